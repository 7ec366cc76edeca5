/** Request schema for /outposts/instances/, as authentik's OutpostRequest. */
import { type Static, Type as t } from "@sinclair/typebox";

export const OUTPOST_TYPES = ["proxy", "ldap", "radius", "rac"] as const;

export const OutpostRequest = t.Object({
  name: t.String({ minLength: 1, maxLength: 300 }),
  type: t.Union(OUTPOST_TYPES.map((v) => t.Literal(v))),
  providers: t.Array(t.Integer({ minimum: 1 }), { maxItems: 10_000 }),
  service_connection: t.Optional(t.Null()),
  config: t.Record(t.String(), t.Unknown()),
  managed: t.Optional(t.Union([t.String({ minLength: 1 }), t.Null()])),
});
export type OutpostRequest = Static<typeof OutpostRequest>;

export const OUTPOST_READ_ONLY = [
  "pk",
  "providers_obj",
  "service_connection_obj",
  "refresh_interval_s",
  "token_identifier",
] as const;

/** authentik's OutpostConfig defaults. */
export const DEFAULT_OUTPOST_CONFIG = {
  authentik_host: "",
  authentik_host_insecure: false,
  authentik_host_browser: "",
  log_level: "info",
  object_naming_template: "ak-outpost-%(name)s",
  refresh_interval: "minutes=5",
} as const;

/** How long an instance counts as healthy after its last HELLO: the hello interval × 1.5. */
export const HELLO_INTERVAL_S = 10;
export const HEALTHY_FOR_MS = HELLO_INTERVAL_S * 1500;
