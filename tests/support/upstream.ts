/**
 * The app a reverse proxy or the proxy outpost stands in front of, for tests and benchmarks: one
 * Bun.serve on 127.0.0.1 with a route per thing a proxy can get wrong.
 *
 * - `GET /` — a short fixed body (benchmarks);
 * - `GET /headers` — the request as the app saw it: method, URL and headers (lower-cased names) as JSON;
 * - `GET /ws` — a websocket that echoes every message;
 * - `GET /stream?chunks=N&interval=MS` — N chunks, one every MS milliseconds (defaults 5 and 100);
 * - `POST /upload` — reads the whole body and answers its byte count and sha256 (hex);
 * - `/stall` — never answers (timeout tests); `stop()` drops such requests;
 * - `GET|HEAD /download?bytes=N&seed=S` — `downloadBytes(N, S)` with a Content-Length, or chunked with
 *   `&chunked=1` (sent in 64 KiB pieces as the reader takes them);
 * - `GET /etag` — `ETAG_BODY` with ETag `ETAG`; 304 Not Modified without a body when If-None-Match names it;
 * - `GET /no-content` — 204 No Content;
 * - `GET /cookies` — one Set-Cookie header for each of `SET_COOKIES` (one has a comma in its Expires);
 * - `GET /gzip` — `GZIPPED` as it is, with Content-Encoding: gzip (it inflates to `GZIP_TEXT`);
 * - `GET /redirect?to=URL` — 302 Found with Location: URL;
 * - `GET /events?id=ID` — server-sent events: `HELD_EVENTS[0]` at once, then `HELD_EVENTS[1]` and the end
 *   once `release(ID)` is called (before or after the request comes in); `stop()` releases them all.
 *
 * In a test, `await startUpstream()`. As its own process (benchmarks: so it shares no event loop with
 * the process under test), `bun tests/support/upstream.ts [port]` prints `listening http://127.0.0.1:PORT`.
 */
import { createHash } from "node:crypto";

export const UPSTREAM_BODY = "hello from the upstream\n";
export const ETAG = '"v1"';
export const ETAG_BODY = "version one of a cacheable page\n";
export const SET_COOKIES = [
  "first=1; Path=/",
  "second=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT; HttpOnly",
  "third=3; Path=/app; SameSite=Lax",
];
export const GZIP_TEXT = "a line the upstream compresses itself\n".repeat(200);
export const GZIPPED = Bun.gzipSync(GZIP_TEXT);
export const HELD_EVENTS = ["data: first\n\n", "id: 2\ndata: second\n\n"] as const;
const DOWNLOAD_PIECE = 64 * 1024;

export interface Upstream {
  /** http://127.0.0.1:PORT, no trailing slash */
  url: string;
  port: number;
  /** Lets `/events?id=ID` send the rest of its events. */
  release(id: string): void;
  stop(): Promise<void>;
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
}

export async function startUpstream(port = 0): Promise<Upstream> {
  const stalled = new Set<() => void>();
  const gates = new Map<string, Gate>();
  const gate = (id: string) => {
    let g = gates.get(id);
    if (!g) {
      g = newGate();
      gates.set(id, g);
    }
    return g;
  };
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
        case "/download":
          return download(
            downloadBytes(
              Number(url.searchParams.get("bytes") ?? 0),
              Number(url.searchParams.get("seed") ?? 0),
            ),
            url.searchParams.get("chunked") === "1",
          );
        case "/etag": {
          const wanted = (req.headers.get("if-none-match") ?? "").split(",").map((t) => t.trim());
          if (wanted.includes(ETAG) || wanted.includes("*"))
            return new Response(null, { status: 304, headers: { etag: ETAG } });
          return new Response(ETAG_BODY, {
            headers: { etag: ETAG, "content-type": "text/plain", "cache-control": "no-cache" },
          });
        }
        case "/no-content":
          return new Response(null, { status: 204 });
        case "/cookies": {
          const headers = new Headers({ "content-type": "text/plain" });
          for (const cookie of SET_COOKIES) headers.append("set-cookie", cookie);
          return new Response("cookies set\n", { headers });
        }
        case "/gzip":
          return new Response(GZIPPED, {
            headers: { "content-type": "text/plain", "content-encoding": "gzip", vary: "accept-encoding" },
          });
        case "/redirect":
          return new Response(null, {
            status: 302,
            headers: { location: url.searchParams.get("to") ?? "/" },
          });
        case "/events":
          return heldEvents(gate(url.searchParams.get("id") ?? "").released);
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
    release(id) {
      gate(id).release();
    },
    async stop() {
      for (const release of stalled) release();
      stalled.clear();
      for (const g of gates.values()) g.release();
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

/**
 * `length` pseudo-random bytes (xorshift32), the same for the same seed: a download the test can check
 * without keeping a copy, and that no compression along the way could shrink.
 */
export function downloadBytes(length: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(length / 4));
  let x = Math.imul(seed + 1, 0x9e3779b1) || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return new Uint8Array(words.buffer, 0, length);
}

/** `bytes` whole (Bun sends its Content-Length), or as a stream of pieces (Bun sends it chunked). */
function download(bytes: Uint8Array, chunked: boolean): Response {
  const headers = { "content-type": "application/octet-stream" };
  if (!chunked) return new Response(bytes, { headers });
  let at = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at < bytes.length) controller.enqueue(bytes.subarray(at, at + DOWNLOAD_PIECE));
      at += DOWNLOAD_PIECE;
      if (at >= bytes.length) controller.close();
    },
  });
  return new Response(body, { headers });
}

interface Gate {
  released: Promise<void>;
  release(): void;
}

function newGate(): Gate {
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { released, release };
}

/** An event stream that sends its first event at once and the rest only when `released` settles. */
function heldEvents(released: Promise<void>): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(HELD_EVENTS[0]));
      void released.then(() => {
        try {
          controller.enqueue(encoder.encode(HELD_EVENTS[1]));
          controller.close();
        } catch {
          // The reader went away first.
        }
      });
    },
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-store" },
  });
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
