/**
 * Where a login may send the browser back to (authentik's checkRedirectParam, stricter): for proxy and
 * forward_single, a path on the external host or a URL on the same host; for forward_domain, an http(s)
 * URL whose host is the cookie domain or under it. Anything else falls back to the external host, so the
 * outpost is never an open redirect.
 */
import { type Application, underDomain } from "./application.ts";

export function checkRedirect(app: Application, rd: string | null | undefined): string | undefined {
  if (!rd || rd.length > 8192 || /[\r\n\t\0\\]/.test(rd)) return undefined;
  // A path alone: "/x" but not "//host" (a scheme-relative URL).
  if (rd.startsWith("/") && !rd.startsWith("//")) return new URL(rd, app.external).href;
  let url: URL;
  try {
    url = new URL(rd);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  if (url.username || url.password) return undefined;
  if (app.config.mode === "forward_domain") {
    return underDomain(url.hostname, app.domain) || url.host.toLowerCase() === app.host
      ? url.href
      : undefined;
  }
  return url.host.toLowerCase() === app.host ? url.href : undefined;
}

/** The validated target, or the external host. */
export function redirectTarget(app: Application, rd: string | null | undefined): string {
  return checkRedirect(app, rd) ?? app.external.href;
}
