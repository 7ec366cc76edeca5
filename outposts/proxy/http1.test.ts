import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import type { TCPSocketListener } from "bun";
import { eventually } from "../../tests/support/polling.ts";
import {
  closeIdleConnections,
  ProtocolError,
  sendUpstream,
  type UpstreamRequest,
  UpstreamTimeout,
  upstreamOrigin,
} from "./http1.ts";

/**
 * A raw TCP upstream: `answer` sees everything received on a connection so far and returns what to
 * write (or undefined to wait for more); it can close the socket. Counts connections.
 */
interface RawUpstream {
  url: string;
  connections: number;
  /** Each connection's bytes received, in order. */
  received: string[];
  /** Bytes written by the answer that the kernel has not taken yet, over all connections. */
  unsent(): number;
  stop(): void;
}

type Answer = (
  received: string,
  socket: { end(): void; write(data: string | Uint8Array): void },
  n: number,
) => void;

interface Conn {
  index: number;
  seen: string;
  /** Bytes the kernel did not take yet (Bun's socket.write writes what it can and says how much). */
  queue: Buffer[];
}

const upstreams: TCPSocketListener<Conn>[] = [];

function flush(socket: { write(data: Uint8Array): number; data: Conn }): void {
  const queue = socket.data.queue;
  while (queue.length > 0) {
    const head = queue[0] as Buffer;
    const n = socket.write(head);
    if (n < head.length) {
      queue[0] = head.subarray(Math.max(n, 0));
      return;
    }
    queue.shift();
  }
}

function rawUpstream(answer: Answer): RawUpstream {
  const queues: Buffer[][] = [];
  const state: RawUpstream = {
    url: "",
    connections: 0,
    received: [],
    unsent: () => queues.flat().reduce((sum, b) => sum + b.length, 0),
    stop: () => {},
  };
  const listener = Bun.listen<Conn>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { index: state.connections++, seen: "", queue: [] };
        queues.push(socket.data.queue);
        state.received.push("");
      },
      data(socket, data) {
        socket.data.seen += Buffer.from(data).toString("latin1");
        state.received[socket.data.index] = socket.data.seen;
        const writer = {
          write(bytes: string | Uint8Array) {
            socket.data.queue.push(
              Buffer.from(typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes),
            );
            flush(socket);
          },
          end() {
            socket.end();
          },
        };
        answer(socket.data.seen, writer, socket.data.index);
      },
      drain(socket) {
        flush(socket);
      },
    },
  });
  upstreams.push(listener);
  state.url = `http://127.0.0.1:${listener.port}`;
  state.stop = () => listener.stop(true);
  return state;
}

/** An upstream that accepts connections and never answers; says whether the client closed its socket. */
function silentUpstream(): { url: string; closed(): boolean } {
  let closed = false;
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data() {},
      close() {
        closed = true;
      },
    },
  });
  upstreams.push(listener as unknown as (typeof upstreams)[number]);
  return { url: `http://127.0.0.1:${listener.port}/`, closed: () => closed };
}

/** Requests complete in `received` (head, plus a Content-Length body). */
function requestsIn(received: string): number {
  return received.split("\r\n\r\n").length - 1;
}

const request = (url: string, extra: Partial<UpstreamRequest> = {}): UpstreamRequest => ({
  method: "GET",
  origin: upstreamOrigin(new URL(url)),
  path: `${new URL(url).pathname}${new URL(url).search}`,
  headers: [["accept", "*/*"]],
  body: null,
  verifyTls: true,
  timeoutMs: 2000,
  ...extra,
});

const OK = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";

afterEach(() => closeIdleConnections());
afterAll(() => {
  for (const l of upstreams) l.stop(true);
});

describe("the proxy outpost's HTTP/1.1 upstream client", () => {
  test("sends the path, query, Host and headers, and reuses one socket for requests in turn", async () => {
    const up = rawUpstream((seen, socket) => {
      if (requestsIn(seen) > 0 && seen.endsWith("\r\n\r\n")) socket.write(OK);
    });
    for (let i = 0; i < 3; i++) {
      const res = await sendUpstream(request(`${up.url}/a/b?q=${i}`));
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("ok");
    }
    expect(up.connections).toBe(1);
    expect(up.received[0]).toStartWith(
      `GET /a/b?q=0 HTTP/1.1\r\nhost: ${new URL(up.url).host}\r\naccept: */*\r\n\r\n`,
    );
    const custom = await sendUpstream(request(`${up.url}/`, { headers: [["host", "internal.example"]] }));
    await custom.text();
    expect(up.received[0]).toContain("GET / HTTP/1.1\r\nhost: internal.example\r\n\r\n");
  });

  test("header bytes go out as they came (latin1), identity lines after them, UTF-8 names intact", async () => {
    const up = rawUpstream((seen, socket) => {
      if (seen.endsWith("\r\n\r\n")) socket.write(OK);
    });
    const name = Buffer.from("Łukasz", "utf8").toString("latin1");
    for (const [value, ascii] of [
      ["caf\u00e9", true],
      ["plain", false],
    ] as const) {
      const lines = { text: `X-authentik-name: ${ascii ? "alice" : name}\r\n`, ascii };
      await (await sendUpstream(request(up.url, { headers: [["x-a", value]], lines }))).text();
    }
    const wire = Buffer.from(up.received.join(""), "latin1");
    expect(wire.includes(Buffer.from("x-a: caf\u00e9\r\nX-authentik-name: alice\r\n\r\n", "latin1"))).toBe(
      true,
    );
    expect(wire.includes(Buffer.from("x-a: plain\r\nX-authentik-name: Łukasz\r\n\r\n", "utf8"))).toBe(true);
  });

  test("a pooled socket the upstream closed while idle is replaced for a GET, not for a POST", async () => {
    // Answers the first request on each connection, then closes the connection on the next one.
    const up = rawUpstream((seen, socket) => {
      const n = requestsIn(seen);
      if (n === 1) socket.write(OK);
      else if (n === 2) socket.end();
    });
    expect(await (await sendUpstream(request(up.url))).text()).toBe("ok");
    expect(await (await sendUpstream(request(up.url))).text()).toBe("ok");
    expect(up.connections).toBe(2);
    const body = new Blob(["x"]).stream();
    const post = sendUpstream(request(up.url, { method: "POST", headers: [["content-length", "1"]], body }));
    await expect(post).rejects.toThrow();
    expect(up.connections).toBe(2);
  });

  test("a request sent without a body says so, whatever length the client claimed", async () => {
    const up = rawUpstream((seen, socket) => {
      if (seen.endsWith("\r\n\r\n")) socket.write(OK);
    });
    const res = await sendUpstream(request(up.url, { headers: [["content-length", "5"]] }));
    expect(await res.text()).toBe("ok");
    expect(up.received[0]).toContain("content-length: 0\r\n\r\n");
    expect(up.received[0]).not.toContain("content-length: 5");
  });

  test("a request body without a length is sent chunked; one with a length as it is", async () => {
    const up = rawUpstream((seen, socket) => {
      if (seen.endsWith("0\r\n\r\n") || seen.endsWith("\r\n\r\nabc")) socket.write(OK);
    });
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode("hello "));
        c.enqueue(new TextEncoder().encode("world"));
        c.close();
      },
    });
    await (await sendUpstream(request(up.url, { method: "POST", body: stream }))).text();
    expect(up.received[0]).toContain(
      "transfer-encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n",
    );
    await (
      await sendUpstream(
        request(up.url, {
          method: "PUT",
          headers: [["content-length", "3"]],
          body: new Blob(["abc"]).stream(),
        }),
      )
    ).text();
    expect(up.received.join("")).toContain("PUT / HTTP/1.1\r\n");
    expect(up.received.join("")).toContain("content-length: 3\r\n\r\nabc");
    expect(up.received.join("")).not.toContain("content-length: 3\r\ntransfer-encoding");
  });

  test("a large body arrives intact, streamed, whether framed by length or chunked", async () => {
    const data = randomBytes(6 * 1024 * 1024);
    const digest = createHash("sha256").update(data).digest("hex");
    const up = rawUpstream((seen, socket) => {
      if (!seen.endsWith("\r\n\r\n")) return;
      if (seen.startsWith("GET /chunked")) {
        socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (let at = 0; at < data.length; at += 100_000) {
          const part = data.subarray(at, at + 100_000);
          socket.write(`${part.length.toString(16)}\r\n`);
          socket.write(part);
          socket.write("\r\n");
        }
        socket.write("0\r\n\r\n");
      } else {
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`);
        socket.write(data);
      }
    });
    for (const path of ["/length", "/chunked"]) {
      const res = await sendUpstream(request(`${up.url}${path}`));
      const got = Buffer.from(await res.arrayBuffer());
      expect(got.length).toBe(data.length);
      expect(createHash("sha256").update(got).digest("hex")).toBe(digest);
    }
  });

  test("an upstream that does not answer in time is an UpstreamTimeout, and its socket is dropped", async () => {
    const silent = silentUpstream();
    const pending = sendUpstream(request(silent.url, { timeoutMs: 150 }));
    await expect(pending).rejects.toBeInstanceOf(UpstreamTimeout);
    await Bun.sleep(50);
    expect(silent.closed()).toBe(true);
  });

  test("an answer that comes before the whole body is passed on; the rest of the body and the socket go", async () => {
    let upstreamClosed = false;
    let answered = false;
    const listener = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(socket) {
          // Answers at the first bytes and reads on without end, as an app refusing an upload might.
          if (answered) return;
          answered = true;
          socket.write(
            "HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\ntoo big\n",
          );
        },
        close() {
          upstreamClosed = true;
        },
      },
    });
    upstreams.push(listener as unknown as (typeof upstreams)[number]);
    let cancelled = false;
    const endless = new ReadableStream<Uint8Array>({
      async pull(c) {
        await Bun.sleep(5);
        c.enqueue(new Uint8Array(1024));
      },
      cancel() {
        cancelled = true;
      },
    });
    const res = await sendUpstream(
      request(`http://127.0.0.1:${listener.port}/upload`, { method: "POST", body: endless }),
    );
    expect(res.status).toBe(413);
    expect(await res.text()).toBe("too big\n");
    await eventually("the body and the socket to be dropped", async () =>
      cancelled && upstreamClosed ? true : undefined,
    );
  });

  test("an upload slower than the timeout is not cut off while its bytes keep moving", async () => {
    const up = rawUpstream((seen, socket) => {
      if (seen.endsWith("0\r\n\r\n")) socket.write(OK);
    });
    const encoder = new TextEncoder();
    let sent = 0;
    // Six chunks 150 ms apart: 900 ms in all, three times the 300 ms the upstream has to answer.
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (sent === 6) return c.close();
        await Bun.sleep(150);
        c.enqueue(encoder.encode(`part ${sent++};`));
      },
    });
    const res = await sendUpstream(request(up.url, { method: "POST", body, timeoutMs: 300 }));
    expect(await res.text()).toBe("ok");
    expect(up.received[0]).toContain("part 5;");
  });

  test("a refused connection, a malformed answer or a truncated body is an error, never a short answer", async () => {
    const dead = rawUpstream(() => {});
    const port = new URL(dead.url).port;
    dead.stop();
    await expect(sendUpstream(request(`http://127.0.0.1:${port}/`))).rejects.toThrow();
    const garbage = rawUpstream((_seen, socket) =>
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
    );
    await expect(sendUpstream(request(garbage.url))).rejects.toBeInstanceOf(ProtocolError);
    const short = rawUpstream((_seen, socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
      socket.end();
    });
    const res = await sendUpstream(request(short.url));
    await expect(res.text()).rejects.toThrow();
  });

  test("a header value with a line break is refused before anything is sent", async () => {
    const up = rawUpstream((_seen, socket) => socket.write(OK));
    const smuggle = request(up.url, { headers: [["x-user", "a\r\nX-Admin: 1"]] });
    await expect(sendUpstream(smuggle)).rejects.toBeInstanceOf(ProtocolError);
    await Bun.sleep(20);
    expect(up.received.join("")).toBe("");
  });

  test("the client going away drops the upstream request", async () => {
    const silent = silentUpstream();
    const abort = new AbortController();
    const pending = sendUpstream(request(silent.url, { signal: abort.signal }));
    await Bun.sleep(50);
    abort.abort(new Error("client gone"));
    await expect(pending).rejects.toThrow("client gone");
    await Bun.sleep(50);
    expect(silent.closed()).toBe(true);
  });

  test("a response with no body type is streamed (Bun would otherwise label it), with its bytes", async () => {
    const up = rawUpstream((_seen, socket) =>
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nraw"),
    );
    const res = await sendUpstream(request(up.url));
    expect(res.headers.get("content-type")).toBeNull();
    expect(await res.text()).toBe("raw");
  });

  test("a client slower than the upstream pauses the upstream socket instead of buffering the body", async () => {
    const size = 64 * 1024 * 1024;
    const up = rawUpstream((_seen, socket) => {
      socket.write(
        `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${size}\r\n\r\n`,
      );
      for (let at = 0; at < size; at += 1024 * 1024) socket.write(Buffer.alloc(1024 * 1024, 97));
    });
    const res = await sendUpstream(request(up.url));
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await Bun.sleep(300);
    // Unread, the body mostly waits at the upstream: the outpost holds a bounded window of it.
    expect(up.unsent()).toBeGreaterThan(size / 2);
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
    }
    expect(total).toBe(size);
    expect(up.unsent()).toBe(0);
  });
});
