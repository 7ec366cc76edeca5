/**
 * authentik's ReportMisconfiguration: a forward-auth request without the headers naming the original
 * URL means the reverse proxy is set up wrong. The outpost tells the core (a configuration_error event),
 * once a minute per provider and server at most, so a busy misconfigured site does not flood the log.
 */
import type { Logger } from "../../shared/log.ts";
import type { ApiClient } from "../runtime/api.ts";
import type { Application } from "./application.ts";

const INTERVAL_MS = 60_000;
const last = new Map<string, number>();

export function reportMisconfiguration(
  api: ApiClient,
  log: Logger,
  app: Application,
  server: string,
  message: string,
  now: () => number,
): void {
  log.warn("reverse proxy misconfigured", { provider: app.config.name, server, message });
  const key = `${app.config.pk}:${server}`;
  const at = now();
  if ((last.get(key) ?? 0) + INTERVAL_MS > at) return;
  last.set(key, at);
  void api
    .send("POST", "/events/events/", {
      action: "configuration_error",
      app: "authentik.providers.proxy",
      context: {
        message: `Outpost misconfiguration: ${message}`,
        provider: app.config.name,
        provider_pk: app.config.pk,
        server,
      },
    })
    .catch((err: Error) => log.warn("could not report the misconfiguration", { error: err.message }));
}
