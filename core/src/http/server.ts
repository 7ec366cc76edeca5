/**
 * The HTTP edge: Bun.serve around the Elysia app. It owns what is about sockets — the request id, the
 * client address, the body-size limit, access logs — and graceful shutdown. Requests for the embedded
 * proxy outpost (its paths, its providers' hosts) go to it before the app (reference §1.8).
 */
import type { Server, ServerWebSocket } from "bun";
import { parseListen } from "../../../shared/config/load.ts";
import type { Logger } from "../../../shared/log.ts";
import { TrustedProxies } from "../../../shared/networks.ts";
import { attachRequestMeta, type RequestMeta } from "../api/request.ts";
import { authenticate } from "../auth/authenticate.ts";
import type { Core } from "../core.ts";
import { EmbeddedProxyRoutes, isProxySocket, type ProxySocketData } from "../outposts/embedded-proxy.ts";
import type { OutpostSocketData } from "../outposts/hub.ts";
import { clientAddress } from "./client-address.ts";

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
const OUTPOST_SOCKET = /^\/ws\/outpost\/([0-9a-fA-F-]{36})\/?$/;

/** The core's websockets: outpost control channels, and the embedded proxy outpost's bridged ones. */
export type EdgeSocketData = OutpostSocketData | ProxySocketData;

/**
 * The control channel: the bearer token must be the outpost's own (or a superuser's). Answers 403
 * without upgrading otherwise; returns undefined once the socket is upgraded.
 */
async function acceptOutpostSocket(
  core: Core,
  srv: Server<EdgeSocketData>,
  request: Request,
  meta: RequestMeta,
  outpost: string,
  log: Logger,
): Promise<Response | undefined> {
  const refuse = (detail: string) => Response.json({ detail }, { status: 403 });
  let actor: Awaited<ReturnType<typeof authenticate>>;
  try {
    actor = await authenticate(core.ctx, request, meta);
  } catch {
    return refuse("Token invalid or expired.");
  }
  const row = await core.ctx.store.db
    .selectFrom("outposts")
    .select(["outpost_uuid", "user_id"])
    .where("outpost_uuid", "=", outpost)
    .executeTakeFirst();
  if (!row || (!actor.superuser && row.user_id !== actor.user.id)) {
    log.warn("outpost websocket refused", {
      code: "OP0030SocketRefused",
      outpost,
      user: actor.user.username,
    });
    return refuse("This token may not connect as this outpost.");
  }
  const given = new URL(request.url).searchParams.get("instance_uuid") ?? "";
  const instance = /^[A-Za-z0-9-]{1,64}$/.test(given) ? given : crypto.randomUUID();
  if (srv.upgrade(request, { data: { outpost, instance } })) return undefined;
  return Response.json({ detail: "WebSocket upgrade failed." }, { status: 400 });
}

export interface RunningServer {
  server: Server<EdgeSocketData>;
  url: string;
  /** What the embedded proxy outpost takes; startEmbeddedOutposts fills it in once it runs. */
  embeddedProxy: EmbeddedProxyRoutes;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), then resolves. */
  stop(): Promise<void>;
}

export function startServer(core: Core, log: Logger, listenOverride?: string): RunningServer {
  const config = core.ctx.config;
  const listen = parseListen(listenOverride ?? config["listen.http"]);
  if (!listen) throw new Error(`invalid listen address ${listenOverride ?? config["listen.http"]}`);
  const limit = config["http.max_body_bytes"];
  const trustedProxies = new TrustedProxies(config["listen.trusted_proxy_cidrs"]);
  if (trustedProxies.invalid.length > 0)
    log.warn("listen.trusted_proxy_cidrs: entries that are not networks are left out", {
      code: "HT0002TrustedProxyInvalid",
      entries: trustedProxies.invalid,
    });
  let inFlight = 0;
  const embeddedProxy = new EmbeddedProxyRoutes(log);

  const server = Bun.serve<EdgeSocketData>({
    hostname: listen.hostname,
    port: listen.port,
    // Bun's own limit answers a bare 413 before `fetch` runs (no request id, no detail, no log line),
    // so it stays out of the way and the checks below enforce `limit`.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    development: false,
    async fetch(incoming, srv) {
      let request = incoming;
      const url = new URL(request.url);
      const given = request.headers.get("x-request-id");
      const id = given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
      const meta = {
        id,
        ip: clientAddress(srv.requestIP(request)?.address ?? null, request.headers, trustedProxies),
        userAgent: request.headers.get("user-agent") ?? "",
        path: url.pathname,
        method: request.method,
        started: performance.now(),
      };
      const outpost = OUTPOST_SOCKET.exec(url.pathname)?.[1];
      if (outpost && request.headers.get("upgrade")?.toLowerCase() === "websocket") {
        return acceptOutpostSocket(core, srv, request, meta, outpost.toLowerCase(), log);
      }
      if (embeddedProxy.takes(request.headers, url.pathname)) {
        // The outpost streams bodies through to the upstream with no limit of the core's.
        inFlight++;
        try {
          const response = await embeddedProxy.handle(request, meta.ip ?? "", srv);
          log.info("request", {
            request_id: id,
            method: meta.method,
            path: meta.path,
            status: response?.status ?? 101,
            ms: Math.round((performance.now() - meta.started) * 10) / 10,
            client_ip: meta.ip,
            outpost: "embedded",
          });
          return response;
        } finally {
          inFlight--;
        }
      }
      const tooLarge = (length: number | undefined) => {
        log.warn("request body too large", { request_id: id, path: meta.path, length, limit });
        return withId(
          Response.json(
            { detail: `Request body too large (limit ${limit} bytes).`, code: "body_too_large" },
            // The unread rest of the body would otherwise be taken for the next request.
            { status: 413, headers: { connection: "close" } },
          ),
          id,
        );
      };
      inFlight++;
      try {
        const declared = request.headers.get("content-length");
        if (declared !== null) {
          if (Number(declared) > limit) return tooLarge(Number(declared));
        } else if (request.body) {
          // No Content-Length (chunked): read the body here, up to the limit.
          const body = await readUpTo(request.body, limit);
          if (!body) return tooLarge(undefined);
          request = new Request(request, { body });
        }
        attachRequestMeta(request, meta);
        const response = await core.app.handle(request);
        recordMetrics(core, meta, response.status);
        log.info("request", {
          request_id: id,
          method: meta.method,
          path: meta.path,
          status: response.status,
          ms: Math.round((performance.now() - meta.started) * 10) / 10,
          client_ip: meta.ip,
        });
        return withId(response, id);
      } finally {
        inFlight--;
      }
    },
    websocket: {
      open: (ws) =>
        isProxySocket(ws.data) ? embeddedProxy.websocket.open(proxied(ws)) : core.hub.open(control(ws)),
      message: (ws, message) =>
        isProxySocket(ws.data)
          ? embeddedProxy.websocket.message(proxied(ws), message)
          : void core.hub.message(control(ws), message),
      close: (ws, code, reason) =>
        isProxySocket(ws.data)
          ? embeddedProxy.websocket.close(proxied(ws), code, reason)
          : core.hub.close(control(ws)),
      idleTimeout: 60,
      // Bun's default, for the applications' websockets; the hub refuses control frames over 64 KiB.
      maxPayloadLength: 16 * 1024 * 1024,
    },
    error(err) {
      log.error("server error", { code: "HT0001ServerError", error: err });
      return Response.json(
        { detail: "An internal error occurred.", code: "internal_error" },
        { status: 500 },
      );
    },
  });

  const url = `http://${listen.hostname === "0.0.0.0" ? "localhost" : listen.hostname}:${server.port}`;
  embeddedProxy.addOwnHost(new URL(url).host);
  for (const name of ["localhost", "127.0.0.1", "[::1]"]) embeddedProxy.addOwnHost(`${name}:${server.port}`);
  return {
    server,
    url,
    embeddedProxy,
    async stop() {
      const grace = config["http.shutdown_grace_ms"];
      const stopping = server.stop(false);
      // Control channels never end by themselves; without this, stop would wait for them forever.
      core.hub.disconnectAll();
      const deadline = Date.now() + grace;
      while (inFlight > 0 && Date.now() < deadline) await Bun.sleep(20);
      if (inFlight > 0) {
        log.warn("shutdown grace period over; closing remaining connections", { in_flight: inFlight });
        await server.stop(true);
      }
      await stopping;
    },
  };
}

/** The whole stream, or undefined (and the stream cancelled) once it passes `limit` bytes. */
async function readUpTo(stream: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.byteLength;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function recordMetrics(core: Core, meta: RequestMeta, status: number): void {
  const labels = { method: meta.method, route: meta.route ?? "unmatched" };
  core.metrics.requests.inc({ ...labels, status: String(status) });
  core.metrics.latency.observe(labels, (performance.now() - meta.started) / 1000);
}

const proxied = (ws: ServerWebSocket<EdgeSocketData>) => ws as ServerWebSocket<ProxySocketData>;
const control = (ws: ServerWebSocket<EdgeSocketData>) => ws as ServerWebSocket<OutpostSocketData>;

function withId(response: Response, id: string): Response {
  try {
    response.headers.set("x-request-id", id);
    return response;
  } catch {
    // Some responses have immutable headers; copy them.
    const copy = new Response(response.body, response);
    copy.headers.set("x-request-id", id);
    return copy;
  }
}
