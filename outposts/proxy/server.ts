/**
 * The proxy outpost's listeners. HTTP is the front (front.ts: the common request, without a body or with
 * one framed by Content-Length, read and answered on the socket itself), which pipes everything else to a
 * full `Bun.serve` on loopback; HTTPS (a certificate per external host by SNI, a self-signed default) is
 * served by `Bun.serve` directly. Both servers take any body size (uploads stream through), turn errors
 * into pages, and bridge websocket upgrades to the upstream frame by frame.
 *
 * HTTPS is not on the front because `Bun.listen` takes one certificate: its `tls` is a single object
 * (an array is refused: "TLSOptions must be an object"), and only `Bun.serve` picks among several by SNI
 * (Bun 1.4.5).
 */
import type { Server, ServerWebSocket } from "bun";
import type { Logger } from "../../shared/log.ts";
import type { TrustedProxies } from "../../shared/networks.ts";
import { CoreUnavailable } from "../runtime/api.ts";
import type { Certificate } from "../runtime/certificate.ts";
import { identityResponse } from "./forward.ts";
import { startFront } from "./front.ts";
import { type Handled, type HandlerDeps, handleRequest } from "./handler.ts";
import { errorPage } from "./pages.ts";
import type { ProxyRequest } from "./request.ts";
import { forwardToUpstream, type UpstreamCall, type UpstreamOutcome, upstreamSocketUrl } from "./upstream.ts";

export interface Listen {
  hostname: string;
  port: number;
}

export interface SocketData {
  upstream: WebSocket;
  /** Frames from the upstream that arrived before the client's socket opened. */
  early: (string | ArrayBuffer | typeof CLOSED)[];
}

/** Marks, among early frames, that the upstream closed before the client's socket opened. */
const CLOSED = Symbol("closed");

export interface ProxyServerOptions {
  http: Listen;
  https?: Listen;
  deps: HandlerDeps;
  log: Logger;
  /** Peers that may begin a plain-HTTP connection with a PROXY protocol header (front.ts). */
  trustedProxies?: TrustedProxies;
  /** The default certificate and the per-host ones (by external host name). */
  certificates(): { fallback: Certificate; byHost: Map<string, Certificate> };
}

export interface ProxyServer {
  port: number;
  tlsPort: number | undefined;
  /** Re-reads the certificates (restarts the HTTPS listener when they changed). */
  reloadCertificates(): Promise<void>;
  stop(): Promise<void>;
}

const CONNECT_TIMEOUT_MS = 10_000;
const IDLE_TIMEOUT_S = 120;

/** Opens the upstream socket first, so a dead upstream is a 502 and not an accepted-then-closed socket. */
function openUpstream(handled: Extract<Handled, { kind: "websocket" }>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    handled.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const ws = new WebSocket(upstreamSocketUrl(handled.target), {
      headers,
      protocols: handled.protocols,
      tls: { rejectUnauthorized: handled.app.config.internal_host_ssl_validation },
    } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error("timed out"));
    }, CONNECT_TIMEOUT_MS);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve(ws);
    };
    ws.onerror = () => {
      clearTimeout(timer);
      reject(new Error("the upstream refused the websocket"));
    };
  });
}

/** What a websocket upgrade needs of the Bun server a request came in on (the core's, when embedded). */
export interface Upgrader {
  upgrade(request: Request, options: { data: SocketData; headers?: Record<string, string> }): boolean;
}

export interface ProxyHandlers {
  /** Answers one request; undefined once it became a websocket on `server` (without one: 400). */
  fetch(request: Request, clientIp: () => string, server?: Upgrader): Promise<Response | undefined>;
  /**
   * What to do with a request (handler.ts), with failures already turned into pages: the core away is a
   * 503 "Sign-in unavailable", anything else a 500.
   */
  decide(request: ProxyRequest, clientIp: () => string): Handled | Promise<Handled>;
  /** Counts (and logs, when it failed) a request sent upstream. */
  proxied(call: UpstreamCall, outcome: UpstreamOutcome, detail?: string): void;
  websocket: {
    open(ws: ServerWebSocket<SocketData>): void;
    message(ws: ServerWebSocket<SocketData>, message: string | Buffer): void;
    close(ws: ServerWebSocket<SocketData>, code: number, reason: string): void;
  };
}

/** The per-request work and the websocket bridge, apart from any listener (the embedded outpost's). */
export function proxyHandlers(deps: HandlerDeps, log: Logger): ProxyHandlers {
  const failed = (err: unknown): Handled => {
    if (err instanceof CoreUnavailable) {
      deps.count("core_unavailable");
      log.warn("the core cannot be reached", { code: "PX0003CoreUnavailable", error: err.message });
      return {
        kind: "response",
        response: errorPage(
          503,
          "Sign-in unavailable",
          "The sign-in service cannot be reached right now; try again in a moment.",
        ),
      };
    }
    log.error("request failed", { code: "PX0001RequestFailed", error: (err as Error).message });
    return {
      kind: "response",
      response: errorPage(500, "Internal error", "The outpost could not handle this request."),
    };
  };

  const decide = (request: ProxyRequest, ip: () => string): Handled | Promise<Handled> => {
    try {
      const handled = handleRequest(request, deps, ip);
      return handled instanceof Promise ? handled.catch(failed) : handled;
    } catch (err) {
      return failed(err);
    }
  };

  const proxied = (call: UpstreamCall, outcome: UpstreamOutcome, detail?: string) => {
    deps.count(call.allowlisted ? `allowlisted_${outcome}` : outcome);
    if (detail) log.warn("upstream failed", { provider: call.app.config.name, detail });
  };

  const fetch = async (
    request: Request,
    ip: () => string,
    server?: Upgrader,
  ): Promise<Response | undefined> => {
    const handled = await decide(request, ip);
    if (handled.kind === "response") return handled.response;
    if (handled.kind === "identity") return identityResponse(handled);
    if (handled.kind === "upstream") {
      const result = await forwardToUpstream(request, handled, deps.upstreamTimeoutMs);
      proxied(handled, result.outcome, result.detail);
      return result.response;
    }
    if (!server) return errorPage(400, "Bad request", "The websocket upgrade failed.");
    let upstream: WebSocket;
    try {
      upstream = await openUpstream(handled);
    } catch (err) {
      deps.count("upstream_down");
      log.warn("websocket upstream failed", { error: (err as Error).message });
      return errorPage(502, "Bad gateway", "The application's websocket cannot be reached right now.");
    }
    const data: SocketData = { upstream, early: [] };
    // Set before upgrading: Bun may run `open` (which takes over) inside upgrade().
    upstream.onmessage = (event) => data.early.push(event.data as string | ArrayBuffer);
    upstream.onclose = () => data.early.push(CLOSED);
    const protocol = upstream.protocol;
    const upgraded = server.upgrade(request, {
      data,
      ...(protocol && { headers: { "sec-websocket-protocol": protocol } }),
    });
    if (!upgraded) {
      upstream.close();
      return errorPage(400, "Bad request", "The websocket upgrade failed.");
    }
    deps.count("websocket");
    return undefined;
  };

  const websocket: ProxyHandlers["websocket"] = {
    open(ws: ServerWebSocket<SocketData>) {
      const { upstream, early } = ws.data;
      for (const frame of early) {
        if (frame === CLOSED) return void ws.close(1000, "upstream closed");
        ws.send(frame);
      }
      early.length = 0;
      upstream.onmessage = (event) => ws.send(event.data as string | ArrayBuffer);
      upstream.onclose = (event) => ws.close(event.code === 1005 ? 1000 : event.code, event.reason);
      upstream.onerror = () => ws.close(1011, "upstream error");
    },
    message(ws: ServerWebSocket<SocketData>, message: string | Buffer) {
      if (ws.data.upstream.readyState === WebSocket.OPEN) ws.data.upstream.send(message);
    },
    close(ws: ServerWebSocket<SocketData>, code: number, reason: string) {
      const upstream = ws.data.upstream;
      if (upstream.readyState === WebSocket.OPEN || upstream.readyState === WebSocket.CONNECTING)
        upstream.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    },
  };
  return { fetch, decide, proxied, websocket };
}

export function startProxyServer(options: ProxyServerOptions): ProxyServer {
  const { log } = options;
  const handlers = proxyHandlers(options.deps, log);
  const { fetch, websocket } = handlers;
  /** The HTTP front's pipes to `full`, by the local port each connects from: the client's address. */
  const piped = new Map<number, string>();

  const common = {
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    idleTimeout: IDLE_TIMEOUT_S,
    development: false,
    websocket,
    error(err: Error) {
      log.error("request failed", { code: "PX0002ServeError", error: err.message });
      return errorPage(500, "Internal error", "The outpost could not handle this request.");
    },
  };

  // Everything the HTTP front does not answer itself (front.ts) is piped here, started when first
  // needed; HTTPS is served directly.
  let full: Server<SocketData> | undefined;
  const fullServer = () => {
    full ??= Bun.serve<SocketData>({
      hostname: "127.0.0.1",
      port: 0,
      ...common,
      fetch(request: Request, server: Server<SocketData>) {
        return fetch(
          request,
          () => {
            const peer = server.requestIP(request);
            return (peer && piped.get(peer.port)) ?? peer?.address ?? "";
          },
          server,
        );
      },
    });
    return { hostname: "127.0.0.1", port: full.port as number };
  };
  const http = startFront({
    hostname: options.http.hostname,
    port: options.http.port,
    fallback: fullServer,
    clients: piped,
    decide: handlers.decide,
    proxied: handlers.proxied,
    upstreamTimeoutMs: options.deps.upstreamTimeoutMs,
    idleTimeoutSeconds: IDLE_TIMEOUT_S,
    ...(options.trustedProxies && { trustedProxies: options.trustedProxies }),
    log,
  });
  const direct = {
    ...common,
    fetch: (request: Request, server: Server<SocketData>) =>
      fetch(request, () => server.requestIP(request)?.address ?? "", server),
  };

  let fingerprint = "";
  const tlsConfig = () => {
    const { fallback, byHost } = options.certificates();
    fingerprint = JSON.stringify([fallback.cert, ...[...byHost].map(([h, c]) => [h, c.cert])]);
    return [
      { cert: fallback.cert, key: fallback.key },
      ...[...byHost].map(([serverName, c]) => ({ cert: c.cert, key: c.key, serverName })),
    ];
  };
  const startHttps = (listen: Listen, port = listen.port) =>
    Bun.serve<SocketData>({ hostname: listen.hostname, port, tls: tlsConfig(), ...direct });
  let https = options.https ? startHttps(options.https) : undefined;

  return {
    port: http.port ?? options.http.port,
    get tlsPort() {
      return https?.port;
    },
    async reloadCertificates() {
      if (!https || !options.https) return;
      const before = fingerprint;
      const { fallback, byHost } = options.certificates();
      const next = JSON.stringify([fallback.cert, ...[...byHost].map(([h, c]) => [h, c.cert])]);
      if (next === before) return;
      const port = https.port;
      await https.stop();
      https = startHttps(options.https, port);
      log.info("https certificates reloaded", { hosts: byHost.size });
    },
    async stop() {
      http.stop();
      await Promise.all([full?.stop(true), https?.stop(true)]);
    },
  };
}
