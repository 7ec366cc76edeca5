/**
 * The RADIUS provider (/api/v3/providers/radius/), and what a RADIUS outpost reads
 * (/api/v3/outposts/radius/ and its check_access, which also returns the reply attributes the provider's
 * property mappings give the user). Changing a provider tells the outposts that serve it to refresh.
 */
import { randomBytes } from "node:crypto";
import { type Static, Type as t } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { validationError } from "../../../shared/errors.ts";
import { authenticated } from "../api/authenticated.ts";
import { outpostAccess } from "../applications/service.ts";
import type { CoreContext, Db } from "../context.ts";
import { pairExists } from "../crypto/service.ts";
import { fromJson } from "../store/codec.ts";
import {
  checkProviderBasics,
  flowSlug,
  PROVIDER_READ_ONLY,
  type ProviderRow,
  servedProviderConfigs,
} from "./base.ts";
import { providerCrudRoutes, providerGetter, providerIdKey } from "./crud.ts";
import { radiusReplyAttributes } from "./radius-attributes.ts";

export const RadiusProviderRequest = t.Object({
  name: t.String({ minLength: 1, maxLength: 300 }),
  authentication_flow: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
  authorization_flow: t.String({ format: "uuid" }),
  invalidation_flow: t.String({ format: "uuid" }),
  property_mappings: t.Optional(t.Array(t.String({ format: "uuid" }), { maxItems: 100 })),
  client_networks: t.Optional(t.String({ minLength: 1, maxLength: 4000 })),
  shared_secret: t.Optional(t.String({ minLength: 1, maxLength: 255 })),
  mfa_support: t.Optional(t.Boolean()),
  certificate: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
  /**
   * Gatehouse's own: accept Access-Requests without a Message-Authenticator (old NAS firmware).
   * Off by default (BlastRADIUS, CVE-2024-3596).
   */
  allow_legacy_clients: t.Optional(t.Boolean()),
});
export type RadiusProviderRequest = Static<typeof RadiusProviderRequest>;
const READ_ONLY = [...PROVIDER_READ_ONLY, "outpost_set"] as const;

const DEFAULTS = {
  client_networks: "0.0.0.0/0, ::/0",
  mfa_support: true,
  certificate: null,
  allow_legacy_clients: false,
  property_mappings: [] as string[],
};

export interface RadiusSettings {
  client_networks: string;
  shared_secret: string;
  mfa_support: boolean;
  certificate: string | null;
  allow_legacy_clients: boolean;
  property_mappings: string[];
}

export const radiusSettings = (row: ProviderRow): RadiusSettings => ({
  ...DEFAULTS,
  shared_secret: "",
  ...fromJson<Partial<RadiusSettings>>(row.config),
});

/** Each comma-separated entry is an IPv4 or IPv6 network (a bare address is a /32 or /128). */
export function invalidNetworks(value: string): string[] {
  const bad: string[] = [];
  for (const raw of value.split(",")) {
    const entry = raw.trim();
    const m = /^([0-9a-fA-F:.]+)(?:\/(\d{1,3}))?$/.exec(entry);
    const v4 = m && /^\d{1,3}(\.\d{1,3}){3}$/.test(m[1] ?? "");
    const max = v4 ? 32 : 128;
    if (!m || (!v4 && !(m[1] ?? "").includes(":")) || (m[2] !== undefined && Number(m[2]) > max))
      bad.push(entry);
  }
  return bad;
}

export const getRadiusProvider = providerGetter("radius", "RP");
const intKey = providerIdKey("radius", "RP");

async function check(db: Db, input: Partial<RadiusProviderRequest>, except?: number): Promise<void> {
  const fields: Record<string, string[]> = {};
  await checkProviderBasics(db, input, fields, except);
  if (input.certificate && !(await pairExists(db, input.certificate))) {
    fields.certificate = [`Invalid pk "${input.certificate}" - object does not exist.`];
  }
  if (input.client_networks !== undefined) {
    const bad = invalidNetworks(input.client_networks);
    if (bad.length) fields.client_networks = [`Invalid network: ${bad.join(", ")}`];
  }
  for (const pm of input.property_mappings ?? []) {
    const found = await db
      .selectFrom("property_mappings")
      .select("pm_uuid")
      .where("pm_uuid", "=", pm)
      .where("kind", "=", "radius")
      .executeTakeFirst();
    if (!found) fields.property_mappings = [`Invalid pk "${pm}" - object does not exist.`];
  }
  if (Object.keys(fields).length > 0) throw validationError("RP0002InvalidProvider", fields);
}

const SETTINGS = [
  "client_networks",
  "shared_secret",
  "mfa_support",
  "certificate",
  "allow_legacy_clients",
  "property_mappings",
] as const;
export function radiusProvidersController(ctx: CoreContext) {
  return providerCrudRoutes(ctx, {
    kind: "radius",
    code: "RP",
    schema: RadiusProviderRequest,
    readOnly: READ_ONLY,
    settings: radiusSettings,
    settingKeys: SETTINGS,
    initial: () => ({ ...DEFAULTS, shared_secret: randomBytes(30).toString("base64url") }),
    check,
    servedByOutposts: true,
  });
}

export function radiusOutpostController(ctx: CoreContext) {
  return new Elysia({ prefix: "/outposts/radius" })
    .use(authenticated(ctx))
    .get(
      "/",
      async ({ actor, search }) => {
        return servedProviderConfigs(ctx, actor, "radius", search, async (row, apps) => {
          const s = radiusSettings(row);
          return {
            pk: row.id,
            name: row.name,
            application_slug: apps.backchannel.get(row.id)?.slug ?? apps.direct.get(row.id)?.slug ?? "",
            auth_flow_slug: (await flowSlug(ctx.store.db, row.authorization_flow)) ?? "",
            client_networks: s.client_networks,
            shared_secret: s.shared_secret,
            mfa_support: s.mfa_support,
            certificate: s.certificate,
            allow_legacy_clients: s.allow_legacy_clients,
          };
        });
      },
      { detail: { tags: ["outposts"], operationId: "outposts_radius_list" } },
    )
    .get(
      "/:id/check_access/",
      async ({ actor, meta, params, search }) => {
        const id = Number(intKey(params.id));
        const provider = await getRadiusProvider(ctx.store.db, id);
        const access = await outpostAccess(
          ctx,
          search.get("app_slug"),
          actor.user,
          meta,
          "RP0011NoApplication",
        );
        if (!access.passing)
          return { access: { passing: false, messages: access.messages, log_messages: [] }, attributes: "" };
        const reply = await radiusReplyAttributes(ctx, provider, radiusSettings(provider), actor.user, {
          ip: meta.ip,
        });
        if (!reply.ok)
          return {
            access: { passing: false, messages: [reply.message], log_messages: [] },
            attributes: "",
          };
        return {
          access: { passing: true, messages: access.messages, log_messages: [] },
          attributes: reply.attributes,
        };
      },
      { detail: { tags: ["outposts"], operationId: "outposts_radius_check_access_retrieve" } },
    );
}
