/**
 * What every outpost reads from its environment. GATEHOUSE_* names, and authentik's AUTHENTIK_* so an
 * outpost drops into an authentik deployment's environment unchanged.
 */
import { type Loaded, type LoadOptions, loadConfig } from "../../shared/config/load.ts";
import { bool, type ConfigValues, listen, oneOf, optionalSecret, str } from "../../shared/config/schema.ts";

export const outpostConfigSchema = {
  host: str("", "URL of the Gatehouse core, e.g. https://sso.example.com.", { aliases: ["AUTHENTIK_HOST"] }),
  token: optionalSecret("The outpost's API token (ak-outpost-<uuid>-api).", ["AUTHENTIK_TOKEN"]),
  insecure: bool(false, "Skip TLS certificate checks when talking to the core.", ["AUTHENTIK_INSECURE"]),
  host_browser: str("", "Public URL of the core for browser redirects (proxy outpost).", {
    aliases: ["AUTHENTIK_HOST_BROWSER"],
  }),
  data_dir: str("./data", "Where the last good configuration is kept, to start from when the core is away."),
  "listen.metrics": listen(
    "0.0.0.0:9300",
    "Address of /metrics and the /outpost.goauthentik.io/ping health check.",
  ),
  "log.level": oneOf(["debug", "info", "warn", "error"] as const, "info", "Lowest level written to the log."),
} as const;

export type OutpostConfig = ConfigValues<typeof outpostConfigSchema>;

/** Keys each outpost kind adds (listen addresses), merged into the shared schema. */
export function loadOutpostConfig<S extends Record<string, import("../../shared/config/schema.ts").KeySpec>>(
  extra: S,
  options: LoadOptions = {},
): Loaded<typeof outpostConfigSchema & S> {
  return loadConfig({ ...outpostConfigSchema, ...extra }, options);
}
