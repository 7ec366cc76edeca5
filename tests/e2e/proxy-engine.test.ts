/**
 * The compiled proxy outpost's upstream leg (outposts/proxy/http1.ts) as an HTTP/1.1 reverse proxy, for
 * what real apps do, with a signed-in browser: HEAD, 304 and 204 without a body, several Set-Cookie
 * headers, a gzip body passed on untouched, server-sent events passed on as they come, a chunked upload,
 * redirects passed on and not followed, and 200 requests at once each with its own answer. Then an
 * upstream that answers garbage (a 502 page) or closes mid-body (the client's body fails, it never looks
 * complete), after which the outpost carries on; and, last, 16 MiB downloads and the pooled connections
 * that bodies larger than the outpost's stream buffer leave behind. The app is tests/support/upstream.ts;
 * the broken one is a raw socket server in this file, behind a second provider of the same outpost.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { freePort, PROCESS_TIMEOUT_MS } from "../support/process.ts";
import { ALICE, ProxyFixture } from "../support/proxy-outpost.ts";
import {
  downloadBytes,
  ETAG,
  ETAG_BODY,
  GZIP_TEXT,
  GZIPPED,
  HELD_EVENTS,
  SET_COOKIES,
  type SeenRequest,
  startUpstream,
  type Upstream,
} from "../support/upstream.ts";
import { WebClient } from "../support/web-client.ts";

const BIG = 16 * 1024 * 1024;
/** The outpost's proxy.upstream_timeout: a request stuck upstream comes back as its 504 in this time. */
const UPSTREAM_TIMEOUT_S = 10;

const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher("sha256").update(bytes).digest("hex");

/** Reads a body to its end: how many bytes came, and the error it ended with, if it did not end cleanly. */
async function readAll(res: Response): Promise<{ bytes: number; error?: Error }> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let bytes = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { bytes };
      bytes += value.byteLength;
    }
  } catch (err) {
    return { bytes, error: err as Error };
  }
}

/** A well-formed answer, kept alive. */
const RAW_OK = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\nok\n";
/** How much the cut-short answers promise; far more than they send. */
const PROMISED = 1_000_000;

function chunk(bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from("\r\n")]);
}

/** What the raw upstream writes for each path; `close` ends the connection once it is written. */
const RAW_REPLIES: Record<string, { data: Uint8Array; close: boolean }> = {
  "/ok": { data: Buffer.from(RAW_OK), close: false },
  // A line and a blank line, as a head would end, but no status line; the socket stays open.
  "/not-http": { data: Buffer.from("SSH-2.0-OpenSSH_9.6\r\nhello\r\n\r\n"), close: false },
  // Binary noise and no head at all, then the connection closes.
  "/noise-then-close": { data: downloadBytes(3000, 99), close: true },
  "/cut-length": {
    data: Buffer.concat([
      Buffer.from(
        `HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ${PROMISED}\r\n\r\n`,
      ),
      downloadBytes(64 * 1024, 1),
    ]),
    close: true,
  },
  // Two whole chunks, then one that promises more than comes.
  "/cut-in-chunk": {
    data: Buffer.concat([
      Buffer.from(
        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n",
      ),
      chunk(downloadBytes(4096, 2)),
      chunk(downloadBytes(4096, 3)),
      Buffer.from(`${PROMISED.toString(16)}\r\n`),
      downloadBytes(100, 4),
    ]),
    close: true,
  },
  // Whole chunks and then the end of the connection, without the last (zero-size) chunk.
  "/cut-between-chunks": {
    data: Buffer.concat([
      Buffer.from(
        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n",
      ),
      chunk(downloadBytes(4096, 5)),
      chunk(downloadBytes(4096, 6)),
    ]),
    close: true,
  },
};

interface RawConnection {
  request: string;
  out: Uint8Array;
  close: boolean;
}

/** Writes what is left of the reply (the rest on drain), then ends the connection if the reply says so. */
function flush(socket: Socket<RawConnection>): void {
  const c = socket.data;
  if (c.out.byteLength > 0) c.out = c.out.subarray(Math.max(socket.write(c.out), 0));
  if (c.out.byteLength === 0 && c.close) socket.end();
}

/** An upstream on a bare socket that answers each GET's path from RAW_REPLIES. */
function startRawUpstream(): TCPSocketListener<RawConnection> {
  return Bun.listen<RawConnection>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { request: "", out: new Uint8Array(0), close: false };
      },
      data(socket, data) {
        const c = socket.data;
        c.request += Buffer.from(data).toString("latin1");
        const end = c.request.indexOf("\r\n\r\n");
        if (end < 0) return;
        const path = c.request.slice(0, c.request.indexOf("\r\n")).split(" ")[1] ?? "";
        // GETs only: nothing follows a head but the next request.
        c.request = c.request.slice(end + 4);
        const reply = RAW_REPLIES[path] ?? {
          data: Buffer.from("HTTP/1.1 404 Not Found\r\n\r\n"),
          close: true,
        };
        c.out = reply.data;
        c.close = reply.close;
        flush(socket);
      },
      drain: flush,
    },
  });
}

let fx: ProxyFixture;
let upstream: Upstream;
let raw: TCPSocketListener<RawConnection>;
let browser: WebClient;
/** The app, on http://127.0.0.1:PORT. */
let base = "";
/** The raw upstream's app, on a name of its own served by the same outpost. */
let rawBase = "";

beforeAll(async () => {
  fx = await ProxyFixture.start();
  upstream = await startUpstream();
  raw = startRawUpstream();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  rawBase = `http://raw.gatehouse.test:${port}`;
  const app = await fx.provider("app", { mode: "proxy", external_host: base, internal_host: upstream.url });
  const broken = await fx.provider("broken", {
    mode: "proxy",
    external_host: rawBase,
    internal_host: `http://127.0.0.1:${raw.port}`,
  });
  await fx.serve([app.pk, broken.pk]);
  // A request stuck at the upstream shows as the outpost's 504 well within a test's time.
  await fx.startOutpost(port, { GATEHOUSE_PROXY__UPSTREAM_TIMEOUT: String(UPSTREAM_TIMEOUT_S) });
  browser = new WebClient(fx.coreUrl, ALICE);
  for (const landing of [`${base}/headers`, `${rawBase}/ok`]) {
    const landed = await browser.walk(landing);
    expect(landed.url, browser.hops.join(" → ")).toBe(landing);
    expect(landed.res.status).toBe(200);
    await landed.res.body?.cancel();
  }
}, 120_000);

afterAll(async () => {
  await fx?.stop();
  await upstream?.stop();
  raw?.stop(true);
}, PROCESS_TIMEOUT_MS);

/** fetch's options, with plain headers and `duplex` (which a streamed request body needs). */
type SendInit = Omit<BunFetchRequestInit, "headers"> & { headers?: Record<string, string>; duplex?: "half" };

/** A request to the app through the outpost, as the signed-in browser; redirects are not followed. */
const send = (path: string, init: SendInit = {}) =>
  fetch(`${base}${path}`, {
    redirect: "manual",
    ...init,
    headers: { cookie: browser.cookieHeader(base), ...init.headers },
  });

describe("the compiled outpost's upstream leg, for what apps send", () => {
  test("HEAD answers the status and Content-Length of the GET, without a body", async () => {
    const small = "/download?bytes=5000&seed=1";
    for (const bytes of [5000, BIG]) {
      const path = `/download?bytes=${bytes}&seed=1`;
      // What the app itself says for the GET.
      const direct = await fetch(`${upstream.url}${path}`);
      expect(direct.headers.get("content-length")).toBe(String(bytes));
      await direct.body?.cancel();
      // Twice, each time with a GET after it: a HEAD answer read as if its body followed would leave the
      // pooled socket out of step (the GET would hang, or get the wrong bytes).
      for (let round = 0; round < 2; round++) {
        const head = await send(path, { method: "HEAD" });
        expect(head.status).toBe(200);
        expect(head.headers.get("content-length")).toBe(String(bytes));
        expect(head.headers.get("content-type")).toBe("application/octet-stream");
        expect((await head.bytes()).byteLength).toBe(0);
        const get = await send(small);
        expect(get.status).toBe(200);
        expect(sha256(await get.bytes())).toBe(sha256(downloadBytes(5000, 1)));
      }
    }
  });

  test("a revalidation gets 304 Not Modified with the ETag and no body; 204 has no body either", async () => {
    const first = await send("/etag");
    expect(first.status).toBe(200);
    expect(first.headers.get("etag")).toBe(ETAG);
    expect(await first.text()).toBe(ETAG_BODY);
    const unchanged = await send("/etag", { headers: { "if-none-match": ETAG } });
    expect(unchanged.status).toBe(304);
    expect(unchanged.headers.get("etag")).toBe(ETAG);
    expect(await unchanged.text()).toBe("");
    const stale = await send("/etag", { headers: { "if-none-match": '"v0"' } });
    expect(stale.status).toBe(200);
    expect(await stale.text()).toBe(ETAG_BODY);
    const empty = await send("/no-content");
    expect(empty.status).toBe(204);
    expect(await empty.text()).toBe("");
    // The sockets those came back on are still in step for the next answer.
    const after = await send("/etag");
    expect(await after.text()).toBe(ETAG_BODY);
  });

  test("every Set-Cookie header of the upstream reaches the client, each on its own", async () => {
    const res = await send("/cookies");
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie()).toEqual(SET_COOKIES);
  });

  test("a gzip body passes through byte for byte, not inflated on the way", async () => {
    const res = await send("/gzip", { decompress: false });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-encoding")).toBe("gzip");
    const body = await res.bytes();
    expect(body.byteLength).toBe(GZIPPED.byteLength);
    expect(sha256(body)).toBe(sha256(GZIPPED));
    // And a browser inflates it to the page.
    expect(await (await send("/gzip")).text()).toBe(GZIP_TEXT);
  });

  test("server-sent events reach the client as the upstream sends them, before it has finished", async () => {
    const id = crypto.randomUUID();
    const res = await send(`/events?id=${id}`, { headers: { accept: "text/event-stream" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let received = "";
    // The upstream holds everything after the first event until it is released: this can only be read
    // if the outpost passed the first event on by itself.
    while (!received.endsWith("\n\n")) {
      const { done, value } = await reader.read();
      expect(done).toBe(false);
      received += decoder.decode(value, { stream: true });
    }
    expect(received).toBe(HELD_EVENTS[0]);
    upstream.release(id);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += decoder.decode(value, { stream: true });
    }
    expect(received).toBe(HELD_EVENTS.join(""));
  });

  test("a POST body sent chunked, without a Content-Length, reaches the upstream intact", async () => {
    const body = downloadBytes(3 * 1024 * 1024 + 17, 3);
    /** Pieces of uneven sizes, so chunk boundaries fall anywhere. */
    const stream = (bytes: Uint8Array) => {
      const sizes = [1, 100, 65_536, 7, 1_000_003, 4096];
      let at = 0;
      let i = 0;
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          const size = sizes[i++ % sizes.length] as number;
          controller.enqueue(bytes.slice(at, at + size));
          at += size;
          if (at >= bytes.length) controller.close();
        },
      });
    };
    const upload = await send("/upload", {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: stream(body),
      duplex: "half",
    });
    expect(upload.status).toBe(200);
    expect(await upload.json()).toEqual({ bytes: body.length, sha256: sha256(body) });
    // How it went on: chunked to the upstream as well, with no length made up on the way.
    const seen = await send("/headers", {
      method: "POST",
      body: stream(new TextEncoder().encode("a small chunked body")),
      duplex: "half",
    });
    expect(seen.status).toBe(200);
    const headers = ((await seen.json()) as SeenRequest).headers;
    expect(headers["transfer-encoding"]).toBe("chunked");
    expect(headers["content-length"]).toBeUndefined();
  });

  test("redirects from the upstream are passed to the client as they are, not followed", async () => {
    for (const to of ["/headers?from=redirect", "http://elsewhere.gatehouse.test/landing"]) {
      const res = await send(`/redirect?to=${encodeURIComponent(to)}`);
      expect(res.status).toBe(302);
      expect(res.headers.get("location")).toBe(to);
    }
  });

  test("200 requests at once each get their own answer", async () => {
    /** One request of a mix (downloads with and without a length, an echo, an upload); a mismatch, or "". */
    const one = async (i: number): Promise<string> => {
      if (i % 4 === 2) {
        const res = await send(`/headers?n=${i}`);
        const seen = (await res.json()) as SeenRequest;
        return new URL(seen.url).search === `?n=${i}` ? "" : `#${i} echo for ${seen.url}`;
      }
      if (i % 4 === 3) {
        const body = downloadBytes(1000 + i * 31, 10_000 + i);
        const res = await send("/upload", { method: "POST", body });
        const digest = (await res.json()) as { sha256: string };
        return digest.sha256 === sha256(body) ? "" : `#${i} upload answered for another body`;
      }
      const bytes = 1 + ((i * 7919) % 200_000);
      const res = await send(`/download?bytes=${bytes}&seed=${i}${i % 4 === 1 ? "&chunked=1" : ""}`);
      const body = await res.bytes();
      return res.status === 200 && sha256(body) === sha256(downloadBytes(bytes, i))
        ? ""
        : `#${i} download: ${res.status}, ${body.byteLength} of ${bytes} bytes`;
    };
    // The second round runs on the sockets the first left in the pool.
    for (let round = 0; round < 2; round++) {
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => one(i)));
      expect(results.filter(Boolean)).toEqual([]);
    }
  });
});

describe("the compiled outpost in front of a broken upstream", () => {
  const get = (path: string) => browser.request(`${rawBase}${path}`);

  /** The outpost still answers: the broken app's good page and the other app. */
  async function stillServing(): Promise<void> {
    const ok = await get("/ok");
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("ok\n");
    expect((await send("/headers")).status).toBe(200);
  }

  test("an answer that is not HTTP gives a 502 page, and the outpost carries on", async () => {
    for (const path of ["/not-http", "/noise-then-close"]) {
      const res = await get(path);
      expect(res.status, path).toBe(502);
      expect(await res.text()).toContain("cannot be reached");
      await stillServing();
    }
  });

  test("a connection closed mid-body fails the client's body, never a complete-looking answer", async () => {
    for (const path of ["/cut-length", "/cut-in-chunk", "/cut-between-chunks"]) {
      const res = await get(path);
      // The head was whole, so it was passed on; the body cannot end as if it were complete.
      expect(res.status, path).toBe(200);
      const read = await readAll(res);
      expect(read.error, `${path}: ${read.bytes} bytes, then a clean end`).toBeDefined();
      expect(read.bytes).toBeLessThan(PROMISED);
      await stillServing();
    }
  });
});

/**
 * Last, since a failure here can leave pooled upstream sockets that never answer again, which the tests
 * above must not trip over: bodies larger than the outpost's stream buffer (256 KiB), passed on to clients
 * slower than the upstream, so the outpost pauses its upstream socket while it waits for them.
 */
describe("the compiled outpost with bodies larger than its stream buffer", () => {
  test("16 MiB downloads, with a Content-Length and chunked, arrive intact", async () => {
    const download = async (query: string) => {
      const res = await send(`/download?bytes=${BIG}&seed=16${query}`);
      const body = await res.bytes();
      return { status: res.status, bytes: body.byteLength, sha256: sha256(body) };
    };
    const expected = { status: 200, bytes: BIG, sha256: sha256(downloadBytes(BIG, 16)) };
    const [withLength, chunked] = await Promise.all([download(""), download("&chunked=1")]);
    expect(withLength).toEqual(expected);
    expect(chunked).toEqual(expected);
  });

  test("the connections large downloads came back on answer the next requests", async () => {
    // 32 at once: the outpost cannot pass each on as fast as the upstream sends it, so it pauses their
    // upstream sockets in turn; once a response is complete its socket goes back to the pool.
    const count = 32;
    const size = 1024 * 1024;
    // (These may already come on a socket the test before left behind.)
    const downloads = await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const res = await send(`/download?bytes=${size}&seed=${i}${i % 2 ? "&chunked=1" : ""}`);
        const body = await res.bytes();
        return sha256(body) === sha256(downloadBytes(size, i))
          ? "intact"
          : `${res.status}, ${body.byteLength} bytes`;
      }),
    );
    expect(downloads).toEqual(Array(count).fill("intact"));
    // Twice as many requests as downloads: the pool hands out the sockets released last first, so each
    // one the downloads came back on is used again. One left paused is never read again: its request
    // gets the outpost's 504 after UPSTREAM_TIMEOUT_S.
    const next = await Promise.all(
      Array.from({ length: 2 * count }, async () => {
        const res = await send("/etag");
        return (await res.text()) === ETAG_BODY ? "answered" : `${res.status} instead`;
      }),
    );
    expect(next).toEqual(Array(2 * count).fill("answered"));
  });
});
