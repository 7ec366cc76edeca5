/**
 * Proxy mode's upstream leg: the request streamed to internal_host with Bun's fetch (bodies are never
 * buffered, responses are passed on as they come, compressed bodies untouched), TLS checked unless the
 * provider says not to, and clear pages when the upstream is down (502) or does not answer in time (504).
 * Websocket upgrades are bridged by the server (see `upstreamSocketUrl`).
 */
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

export function stripHopHeaders(headers: Headers): void {
  const named = (headers.get("connection") ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  for (const name of [...HOP, ...named]) headers.delete(name);
}

/** internal_host joined with the request's path and query (the internal host's own path prefixes it). */
export function upstreamUrl(internalHost: string, requestUrl: URL): URL {
  const base = new URL(internalHost);
  const prefix = base.pathname.replace(/\/+$/, "");
  return new URL(`${base.origin}${prefix}${requestUrl.pathname}${requestUrl.search}`);
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
  headers: Headers,
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
    const out = new Headers(upstream.headers);
    for (const name of ["connection", "keep-alive", "transfer-encoding"]) out.delete(name);
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
