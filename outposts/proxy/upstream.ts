/**
 * Proxy mode's upstream leg: the request streamed to internal_host over the outpost's HTTP/1.1 client
 * (http1.ts: bodies are never buffered, responses are passed on as they come, compressed bodies
 * untouched), TLS checked unless the provider says not to, and clear pages when the upstream is down or
 * answers something unusable (502) or does not answer in time (504).
 * Websocket upgrades are bridged by the server (see `upstreamSocketUrl`).
 */

import type { Application } from "./application.ts";
import { withoutCookie } from "./cookie.ts";
import { isAuthentikHeader, type PreparedIdentity } from "./headers.ts";
import { type Origin, sendUpstream, type UpstreamRequest, UpstreamTimeout, upstreamOrigin } from "./http1.ts";
import { errorPage } from "./pages.ts";
import type { ProxyRequest, RequestHeaders } from "./request.ts";

/** Hop-by-hop headers (RFC 9110 §7.6.1) and those the outpost sets itself. */
const HOP_SET = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "expect",
  "host",
]);
/** Set by the outpost on every proxied request; what the client sent under these names is dropped. */
const FORWARDED = new Set(["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"]);

/** The names a Connection header lists (they are hop-by-hop too). */
const connectionNamed = (value: string | null): string[] =>
  (value ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

export interface UpstreamHeaderOptions {
  /** The client's address, appended to X-Forwarded-For. */
  clientIp: string;
  /** X-Forwarded-Host when the request has no Host; X-Forwarded-Proto is `proto`. */
  host: string;
  proto: string;
  /** The session cookie's name: removed from the Cookie header (the upstream has no use for it). */
  cookie: string;
  /** Drop the client's Authorization (it was the credential that authenticated it). */
  dropAuthorization: boolean;
  /** The identity headers (they replace a request header of the same name), if someone signed in. */
  identity: PreparedIdentity | undefined;
  /** The Host the upstream sees (the user's `host_header` attribute), if set. */
  hostHeader: string | undefined;
}

/**
 * The request headers the upstream gets, in one pass over the client's: without the client's
 * X-authentik-* (in any spelling), hop-by-hop headers (and those Connection names), the
 * session cookie, the client's X-Forwarded-For/Host/Proto (set here) and, when asked, Authorization;
 * then the X-Forwarded-* headers. The identity's headers, which win over anything of the same name, are
 * not among them: they go after these, as the identity's prepared `lines` (or its `pairs`).
 */
export function upstreamHeaders(request: RequestHeaders, o: UpstreamHeaderOptions): [string, string][] {
  const named = connectionNamed(request.get("connection"));
  const replaced = o.identity?.names;
  const out: [string, string][] = [];
  const seen: { cookie?: string; forwardedFor?: string; host?: string } = {};
  request.forEach((value, name) => {
    if (name === "cookie") seen.cookie = value;
    else if (name === "x-forwarded-for") seen.forwardedFor = value;
    else if (name === "host") seen.host = value;
    if (HOP_SET.has(name) || FORWARDED.has(name) || name === "cookie") return;
    if (o.dropAuthorization && name === "authorization") return;
    if (replaced?.has(name) || (named.length > 0 && named.includes(name))) return;
    if (name.charCodeAt(0) === 120 /* x */ && isAuthentikHeader(name)) return;
    out.push([name, value]);
  });
  const kept = withoutCookie(seen.cookie ?? null, o.cookie);
  if (kept && !named.includes("cookie")) out.push(["cookie", kept]);
  const forwarded: [string, string][] = [
    ["x-forwarded-for", seen.forwardedFor ? `${seen.forwardedFor}, ${o.clientIp}` : o.clientIp],
    ["x-forwarded-host", seen.host ?? o.host],
    ["x-forwarded-proto", o.proto],
  ];
  for (const pair of forwarded) if (!replaced?.has(pair[0])) out.push(pair);
  if (o.hostHeader) out.push(["host", o.hostHeader]);
  return out;
}

/** An upstream request's destination: the origin's sockets, and the path and query to ask for. */
export interface UpstreamTarget {
  origin: Origin;
  path: string;
}

/** Per internal_host: its origin and path prefix (parsed once, not per request). */
const bases = new Map<string, { origin: Origin; prefix: string }>();

/** internal_host joined with the request's path and query (the internal host's own path prefixes it). */
export function upstreamTarget(
  internalHost: string,
  requestUrl: { pathname: string; search: string },
): UpstreamTarget {
  let base = bases.get(internalHost);
  if (base === undefined) {
    const parsed = new URL(internalHost);
    base = { origin: upstreamOrigin(parsed), prefix: parsed.pathname.replace(/\/+$/, "") };
    // backend_override comes from user attributes: keep the memo bounded.
    if (bases.size >= 1000) bases.clear();
    bases.set(internalHost, base);
  }
  return { origin: base.origin, path: `${base.prefix}${requestUrl.pathname}${requestUrl.search}` };
}

export function upstreamSocketUrl(target: UpstreamTarget): string {
  const url = new URL(target.path, target.origin.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

/** A request the handler decided to send on (see handler.ts `Handled`). */
export interface UpstreamCall {
  app: Application;
  target: UpstreamTarget;
  /** The request headers for the upstream; the identity's prepared lines go after them. */
  headers: [string, string][];
  identity: PreparedIdentity | undefined;
  /** Passed by the provider's skip_path_regex, not by a signed-in user (for the counters). */
  allowlisted: boolean;
}

/** The HTTP/1.1 client's request for a call: the body streamed on, the client's going away heeded. */
export function upstreamRequest(
  request: ProxyRequest,
  call: UpstreamCall,
  timeoutMs: number,
): UpstreamRequest {
  const hasBody = request.method !== "GET" && request.method !== "HEAD" && request.body !== null;
  return {
    method: request.method,
    origin: call.target.origin,
    path: call.target.path,
    headers: call.headers,
    lines: call.identity?.lines,
    body: hasBody ? request.body : null,
    verifyTls: call.app.config.internal_host_ssl_validation,
    timeoutMs,
    // The client going away drops the upstream request too.
    signal: request.signal,
  };
}

export type UpstreamOutcome = "proxied" | "upstream_down" | "upstream_timeout";

/** A failed call: the page for the client (502, or 504 when the upstream was too slow), and for the log. */
export function upstreamFailure(
  err: unknown,
  call: UpstreamCall,
  timeoutMs: number,
): { response: Response; outcome: UpstreamOutcome; detail: string } {
  const host = call.target.origin.host;
  if (err instanceof UpstreamTimeout)
    return {
      response: errorPage(
        504,
        "Gateway timeout",
        `The application did not answer within ${Math.round(timeoutMs / 1000)} s; try again later.`,
      ),
      outcome: "upstream_timeout",
      detail: `no answer from ${host} within ${timeoutMs} ms`,
    };
  return {
    response: errorPage(
      502,
      "Bad gateway",
      "The application behind this address cannot be reached right now; try again later.",
    ),
    outcome: "upstream_down",
    detail: `${host}: ${(err as Error).message}`,
  };
}

/** Sends a call upstream; the answer as a Response (streamed), or the error page. */
export async function forwardToUpstream(
  request: ProxyRequest,
  call: UpstreamCall,
  timeoutMs: number,
): Promise<{ response: Response; outcome: UpstreamOutcome; detail?: string }> {
  try {
    return { response: await sendUpstream(upstreamRequest(request, call, timeoutMs)), outcome: "proxied" };
  } catch (err) {
    return upstreamFailure(err, call, timeoutMs);
  }
}
