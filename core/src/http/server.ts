/**
 * The HTTP edge: Bun.serve around the Elysia app. It owns what is about sockets — the request id, the
 * client address, the body-size limit, access logs — and graceful shutdown.
 */
import type { Server } from "bun";
import { parseListen } from "../../../shared/config/load.ts";
import type { Logger } from "../../../shared/log.ts";
import { attachRequestMeta, type RequestMeta } from "../api/request.ts";
import type { Core } from "../core.ts";

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export interface RunningServer {
  server: Server<undefined>;
  url: string;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), then resolves. */
  stop(): Promise<void>;
}

export function startServer(core: Core, log: Logger, listenOverride?: string): RunningServer {
  const config = core.ctx.config;
  const listen = parseListen(listenOverride ?? config["listen.http"]);
  if (!listen) throw new Error(`invalid listen address ${listenOverride ?? config["listen.http"]}`);
  const limit = config["http.max_body_bytes"];
  let inFlight = 0;

  const server = Bun.serve({
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
        ip: srv.requestIP(request)?.address ?? null,
        userAgent: request.headers.get("user-agent") ?? "",
        path: url.pathname,
        method: request.method,
        started: performance.now(),
      };
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
    error(err) {
      log.error("server error", { code: "HT0001ServerError", error: err });
      return Response.json(
        { detail: "An internal error occurred.", code: "internal_error" },
        { status: 500 },
      );
    },
  });

  const url = `http://${listen.hostname === "0.0.0.0" ? "localhost" : listen.hostname}:${server.port}`;
  return {
    server,
    url,
    async stop() {
      const grace = config["http.shutdown_grace_ms"];
      const stopping = server.stop(false);
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
