/**
 * Proxy mode's upstream leg: the request streamed to internal_host with Bun's fetch (bodies are never
 * buffered, responses are passed on as they come, compressed bodies untouched), TLS checked unless the
 * provider says not to, and clear pages when the upstream is down (502) or does not answer in time (504).
 * Websocket upgrades are bridged by the server (see `upstreamSocketUrl`).
 */
import { withoutCookie } from "./cookie.ts";
import { isAuthentikHeader } from "./headers.ts";
import { errorPage } from "./pages.ts";

/** Hop-by-hop headers (RFC 9110 §7.6.1) and those the outpost sets itself. */
const HOP = [
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
];
const HOP_SET = new Set(HOP);
/** Set by the outpost on every proxied request; what the client sent under these names is dropped. */
const FORWARDED = new Set(["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"]);
/** Hop-by-hop headers of a response, which must not be passed on. */
const RESPONSE_HOP = ["connection", "keep-alive", "transfer-encoding"];

/** The names a Connection header lists (they are hop-by-hop too). */
const connectionNamed = (value: string | null): string[] =>
  (value ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

export function stripHopHeaders(headers: Headers): void {
  for (const name of [...HOP, ...connectionNamed(headers.get("connection"))]) headers.delete(name);
}

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
  identity: { pairs: [string, string][]; names: Set<string> } | undefined;
  /** The Host the upstream sees (the user's `host_header` attribute), if set. */
  hostHeader: string | undefined;
}

/**
 * The request headers the upstream gets, in one pass over the client's: without the client's
 * X-authentik-* (in any spelling), hop-by-hop headers (and those Connection names), the
 * session cookie, the client's X-Forwarded-For/Host/Proto (set here) and, when asked, Authorization;
 * then the X-Forwarded-* headers and the identity's, which win over anything of the same name.
 */
export function upstreamHeaders(request: Headers, o: UpstreamHeaderOptions): [string, string][] {
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
  if (o.identity) out.push(...o.identity.pairs);
  if (o.hostHeader) out.push(["host", o.hostHeader]);
  return out;
}

/** Per internal_host: its origin and path prefix (parsed once, not per request). */
const bases = new Map<string, string>();

/** internal_host joined with the request's path and query (the internal host's own path prefixes it). */
export function upstreamUrl(internalHost: string, requestUrl: URL): URL {
  let base = bases.get(internalHost);
  if (base === undefined) {
    const parsed = new URL(internalHost);
    base = `${parsed.origin}${parsed.pathname.replace(/\/+$/, "")}`;
    // backend_override comes from user attributes: keep the memo bounded.
    if (bases.size >= 1000) bases.clear();
    bases.set(internalHost, base);
  }
  return new URL(`${base}${requestUrl.pathname}${requestUrl.search}`);
}

export function upstreamSocketUrl(target: URL): string {
  const url = new URL(target);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

export interface UpstreamOptions {
  verifyTls: boolean;
  /** How long the upstream may take to start answering. */
  timeoutMs: number;
}

export type UpstreamResult = {
  response: Response;
  outcome: "proxied" | "upstream_down" | "upstream_timeout";
  /** For the log (never shown to the client): what went wrong. */
  detail?: string;
};

export async function forwardToUpstream(
  request: Request,
  target: URL,
  headers: Headers | [string, string][],
  options: UpstreamOptions,
): Promise<UpstreamResult> {
  const timer = new AbortController();
  const timeout = setTimeout(() => timer.abort(), options.timeoutMs);
  const hasBody = request.method !== "GET" && request.method !== "HEAD" && request.body !== null;
  try {
    const upstream = await fetch(target, {
      method: request.method,
      headers,
      body: hasBody ? request.body : undefined,
      redirect: "manual",
      decompress: false,
      // The client going away aborts the upstream request too.
      signal: AbortSignal.any([request.signal, timer.signal]),
      tls: { rejectUnauthorized: options.verifyTls },
      ...(hasBody && { duplex: "half" }),
    } as RequestInit);
    clearTimeout(timeout);
    // Most answers carry no hop-by-hop header: then the upstream's response goes out as it is.
    if (!RESPONSE_HOP.some((name) => upstream.headers.has(name)))
      return { response: upstream, outcome: "proxied" };
    const out = new Headers(upstream.headers);
    for (const name of RESPONSE_HOP) out.delete(name);
    return {
      response: new Response(upstream.body, {
        status: upstream.status,
        statusText: upstream.statusText,
        headers: out,
      }),
      outcome: "proxied",
    };
  } catch (err) {
    clearTimeout(timeout);
    if (timer.signal.aborted)
      return {
        response: errorPage(
          504,
          "Gateway timeout",
          `The application did not answer within ${Math.round(options.timeoutMs / 1000)} s; try again later.`,
        ),
        outcome: "upstream_timeout",
        detail: `no answer from ${target.host} within ${options.timeoutMs} ms`,
      };
    return {
      response: errorPage(
        502,
        "Bad gateway",
        "The application behind this address cannot be reached right now; try again later.",
      ),
      outcome: "upstream_down",
      detail: `${target.host}: ${(err as Error).message}`,
    };
  }
}
