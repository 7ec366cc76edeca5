/**
 * The proxy outpost's listeners: HTTP and HTTPS (a certificate per external host by SNI, a self-signed
 * default), with no body limit of Bun's own (uploads stream through), errors turned into pages, and
 * websocket upgrades bridged to the upstream frame by frame.
 */
import type { Server, ServerWebSocket } from "bun";
import type { Logger } from "../../shared/log.ts";
import { CoreUnavailable } from "../runtime/api.ts";
import type { Certificate } from "../runtime/certificate.ts";
import { type Handled, type HandlerDeps, handleRequest } from "./handler.ts";
import { errorPage } from "./pages.ts";
import { upstreamSocketUrl } from "./upstream.ts";

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
  websocket: {
    open(ws: ServerWebSocket<SocketData>): void;
    message(ws: ServerWebSocket<SocketData>, message: string | Buffer): void;
    close(ws: ServerWebSocket<SocketData>, code: number, reason: string): void;
  };
}

/** The per-request work and the websocket bridge, apart from any listener (the embedded outpost's). */
export function proxyHandlers(deps: HandlerDeps, log: Logger): ProxyHandlers {
  const fetch = async (
    request: Request,
    ip: () => string,
    server?: Upgrader,
  ): Promise<Response | undefined> => {
    try {
      const handled = await handleRequest(request, deps, ip);
      if (handled.kind === "response") return handled.response;
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
    } catch (err) {
      if (err instanceof CoreUnavailable) {
        deps.count("core_unavailable");
        log.warn("the core cannot be reached", { code: "PX0003CoreUnavailable", error: err.message });
        return errorPage(
          503,
          "Sign-in unavailable",
          "The sign-in service cannot be reached right now; try again in a moment.",
        );
      }
      log.error("request failed", { code: "PX0001RequestFailed", error: (err as Error).message });
      return errorPage(500, "Internal error", "The outpost could not handle this request.");
    }
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
  return { fetch, websocket };
}

export function startProxyServer(options: ProxyServerOptions): ProxyServer {
  const { log } = options;
  const { fetch, websocket } = proxyHandlers(options.deps, log);

  const common = {
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    idleTimeout: IDLE_TIMEOUT_S,
    development: false,
    fetch: (request: Request, server: Server<SocketData>) =>
      fetch(request, () => server.requestIP(request)?.address ?? "", server),
    websocket,
    error(err: Error) {
      log.error("request failed", { code: "PX0002ServeError", error: err.message });
      return errorPage(500, "Internal error", "The outpost could not handle this request.");
    },
  };

  const http = Bun.serve<SocketData>({ hostname: options.http.hostname, port: options.http.port, ...common });

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
    Bun.serve<SocketData>({ hostname: listen.hostname, port, tls: tlsConfig(), ...common });
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
      await Promise.all([http.stop(true), https?.stop(true)]);
    },
  };
}
