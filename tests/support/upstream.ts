/**
 * The app a reverse proxy or the proxy outpost stands in front of, for tests and benchmarks: one
 * Bun.serve on 127.0.0.1 with a route per thing a proxy can get wrong.
 *
 * - `GET /` — a short fixed body (benchmarks);
 * - `GET /headers` — the request as the app saw it: method, URL and headers (lower-cased names) as JSON;
 * - `GET /ws` — a websocket that echoes every message;
 * - `GET /stream?chunks=N&interval=MS` — N chunks, one every MS milliseconds (defaults 5 and 100);
 * - `POST /upload` — reads the whole body and answers its byte count and sha256 (hex);
 * - `/stall` — never answers (timeout tests); `stop()` drops such requests.
 *
 * In a test, `await startUpstream()`. As its own process (benchmarks: so it shares no event loop with
 * the process under test), `bun tests/support/upstream.ts [port]` prints `listening http://127.0.0.1:PORT`.
 */
import { createHash } from "node:crypto";

export const UPSTREAM_BODY = "hello from the upstream\n";

export interface Upstream {
  /** http://127.0.0.1:PORT, no trailing slash */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
}

export async function startUpstream(port = 0): Promise<Upstream> {
  const stalled = new Set<() => void>();
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port,
    idleTimeout: 0,
    async fetch(req, srv) {
      const url = new URL(req.url);
      switch (url.pathname) {
        case "/":
          return new Response(UPSTREAM_BODY, { headers: { "content-type": "text/plain" } });
        case "/headers": {
          const seen: SeenRequest = {
            method: req.method,
            url: req.url,
            headers: Object.fromEntries(req.headers),
          };
          return Response.json(seen);
        }
        case "/ws":
          if (srv.upgrade(req, { data: undefined })) return undefined;
          return new Response("expected a websocket upgrade\n", { status: 426 });
        case "/stream":
          return streamChunks(
            Number(url.searchParams.get("chunks") ?? 5),
            Number(url.searchParams.get("interval") ?? 100),
          );
        case "/upload":
          return req.method === "POST"
            ? Response.json(await digestBody(req))
            : new Response(null, { status: 405 });
        case "/stall":
          // Never answered while the upstream runs; stop() ends it with a 503 and closes the connection.
          return new Promise<Response>((resolve) => {
            stalled.add(() => resolve(new Response(null, { status: 503 })));
          });
        default:
          return new Response("not found\n", { status: 404 });
      }
    },
    websocket: {
      message(ws, message) {
        ws.send(message);
      },
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port ?? 0,
    async stop() {
      for (const release of stalled) release();
      stalled.clear();
      await server.stop(true);
    },
  };
}

/** `count` chunks of text, `intervalMs` apart; each says its number and when it was sent. */
function streamChunks(count: number, intervalMs: number): Response {
  const encoder = new TextEncoder();
  let sent = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const next = () => {
        controller.enqueue(encoder.encode(`chunk ${sent} at ${Date.now()}\n`));
        sent++;
        if (sent >= count) controller.close();
        else timer = setTimeout(next, intervalMs);
      };
      next();
    },
    cancel() {
      clearTimeout(timer);
    },
  });
  return new Response(body, { headers: { "content-type": "text/plain", "cache-control": "no-store" } });
}

async function digestBody(req: Request): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  let bytes = 0;
  if (req.body) {
    for await (const chunk of req.body) {
      hash.update(chunk);
      bytes += chunk.byteLength;
    }
  }
  return { bytes, sha256: hash.digest("hex") };
}

if (import.meta.main) {
  const upstream = await startUpstream(Number(process.argv[2] ?? 0));
  console.log(`listening ${upstream.url}`);
  const quit = () => void upstream.stop().finally(() => process.exit(0));
  process.on("SIGTERM", quit);
  process.on("SIGINT", quit);
}
