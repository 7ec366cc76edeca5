import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { connect as netConnect } from "node:net";
import type { Socket } from "bun";
import { memoryLogger } from "../../shared/log.ts";
import { TrustedProxies } from "../../shared/networks.ts";
import { eventually } from "../../tests/support/polling.ts";
import { type Front, type FrontOptions, readHead, startFront } from "./front.ts";
import { prepareIdentity } from "./headers.ts";
import { closeIdleConnections } from "./http1.ts";
import { testApplication } from "./testing.ts";
import { type UpstreamOutcome, upstreamTarget } from "./upstream.ts";

const big = randomBytes(16 * 1024 * 1024);

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

/** The front's map from a pipe's local port to the client's address, read by the fallback below. */
const clients = new Map<number, string>();
const log = memoryLogger();
/** What the front reported for each request it sent upstream. */
const outcomes: UpstreamOutcome[] = [];
const fronts: Front[] = [];
const listeners: { stop(closeActiveConnections?: boolean): void }[] = [];
const sockets: Socket<undefined>[] = [];

/**
 * The full server the front pipes to: it echoes the method, path and body, and the client's address as
 * server.ts finds it (the pipe's local port in the front's map: never the peer address, so a request
 * that did not come through a pipe says so). Websockets greet with that address and echo. POST
 * /digest answers the body's length and hash; POST /download answers the big body.
 */
const fallback = Bun.serve<{ ip: string }>({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(request, server) {
    const peer = server.requestIP(request);
    const ip = (peer && clients.get(peer.port)) ?? "not piped";
    if (request.headers.get("upgrade") === "websocket" && server.upgrade(request, { data: { ip } }))
      return undefined;
    const path = new URL(request.url).pathname;
    if (path === "/download") return new Response(big);
    const body = Buffer.from(await request.arrayBuffer());
    if (path === "/digest") return Response.json({ length: body.length, sha256: sha256(body) });
    return Response.json({ method: request.method, path, body: body.toString(), ip });
  },
  websocket: {
    open(ws) {
      ws.send(`hello ${ws.data.ip}`);
    },
    message(ws, message) {
      ws.send(`echo: ${message}`);
    },
  },
});

/** A body that comes in pieces, some time apart (so Bun sends it chunked). */
function inPieces(pieces: Uint8Array[], pauseMs: number): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (next > 0 && pauseMs > 0) await Bun.sleep(pauseMs);
      const piece = pieces[next++];
      if (piece) controller.enqueue(piece);
      else controller.close();
    },
  });
}

/**
 * The application: answers its path and query back, and a few fixed answers. /echo answers the method,
 * path and body (to tell it from the full server's answer, which says where the client came from).
 */
const upstream = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(request) {
    const url = new URL(request.url);
    const text = (s: string) => new TextEncoder().encode(s);
    switch (url.pathname) {
      case "/echo":
        return Response.json(
          { method: request.method, path: url.pathname, body: await request.text() },
          { headers: { "x-upstream": "yes" } },
        );
      case "/chunked":
        return new Response(inPieces([text("one "), text("two "), text("three")], 5));
      case "/no-content":
        return new Response(null, { status: 204, headers: { "x-upstream": "yes" } });
      case "/not-modified":
        return new Response(null, { status: 304, headers: { etag: '"v1"' } });
      case "/big":
        return new Response(big, { headers: { "content-type": "application/octet-stream" } });
      case "/big-chunked": {
        const pieces: Uint8Array[] = [];
        for (let at = 0; at < big.length; at += 256 * 1024) pieces.push(big.subarray(at, at + 256 * 1024));
        return new Response(inPieces(pieces, 0));
      }
      default:
        return new Response(`${url.pathname}${url.search}`, {
          headers: { "x-upstream": "yes", "content-type": "text/plain" },
        });
    }
  },
});
const upstreamUrl = `http://127.0.0.1:${upstream.port}`;

/** Every request sent to `internalHost`, as the handler decides for a signed-in user. */
function proxyTo(internalHost: string): FrontOptions["decide"] {
  const app = testApplication({ internal_host: internalHost, internal_host_ssl_validation: true });
  return (request) => {
    const url = new URL(request.url);
    const length = request.headers.get("content-length");
    return {
      kind: "upstream",
      app,
      target: upstreamTarget(internalHost, url),
      headers:
        length === null
          ? [["host", url.host]]
          : [
              ["host", url.host],
              ["content-length", length],
            ],
      identity: undefined,
      allowlisted: false,
    };
  };
}

/** Starts a front on 127.0.0.1 (by default proxying to `upstream`, piping to `fallback`); its port. */
function front({
  decide = proxyTo(upstreamUrl),
  upstreamTimeoutMs = 5_000,
  fallbackPort = fallback.port as number,
  full = () => ({ hostname: "127.0.0.1", port: fallbackPort }),
  idleTimeoutSeconds = 30,
  trustedProxies,
}: {
  decide?: FrontOptions["decide"];
  upstreamTimeoutMs?: number;
  fallbackPort?: number;
  /** How the front finds its full server (by default `fallback`, or the server on `fallbackPort`). */
  full?: FrontOptions["fallback"];
  idleTimeoutSeconds?: number;
  trustedProxies?: TrustedProxies;
} = {}): number {
  const started = startFront({
    hostname: "127.0.0.1",
    port: 0,
    fallback: full,
    clients,
    decide,
    proxied: (_call, outcome) => outcomes.push(outcome),
    upstreamTimeoutMs,
    idleTimeoutSeconds,
    ...(trustedProxies && { trustedProxies }),
    log,
  });
  fronts.push(started);
  return started.port;
}

/** A TCP upstream that hands each request head it receives to `answer`; counts closed connections. */
function rawUpstream(answer: (head: string, socket: Socket<{ seen: string }>) => void): {
  url: string;
  received: string[];
  closed(): number;
} {
  const received: string[] = [];
  let closed = 0;
  const listener = Bun.listen<{ seen: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { seen: "" };
      },
      data(socket, data) {
        socket.data.seen += Buffer.from(data).toString("latin1");
        for (let end = socket.data.seen.indexOf("\r\n\r\n"); end >= 0; ) {
          const head = socket.data.seen.slice(0, end + 4);
          socket.data.seen = socket.data.seen.slice(end + 4);
          received.push(head);
          answer(head, socket);
          end = socket.data.seen.indexOf("\r\n\r\n");
        }
      },
      close() {
        closed++;
      },
    },
  });
  listeners.push(listener);
  return { url: `http://127.0.0.1:${listener.port}`, received, closed: () => closed };
}

/**
 * An upstream that answers the length and SHA-256 of a body framed by Content-Length (and `slow`, to tell
 * it from the full server's /digest), and reads slowly: nothing of the body until `release()`, then a
 * pause after every 2 MiB.
 */
function digestUpstream(): { url: string; release(): void } {
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const step = 2 * 1024 * 1024;
  const listener = Bun.listen<{
    head: string;
    left: number;
    got: number;
    hash: ReturnType<typeof createHash>;
  }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { head: "", left: -1, got: 0, hash: createHash("sha256") };
      },
      data(socket, data) {
        const state = socket.data;
        let body: Uint8Array = data;
        if (state.left < 0) {
          state.head += Buffer.from(data).toString("latin1");
          const end = state.head.indexOf("\r\n\r\n");
          if (end < 0) return;
          state.left = Number(/content-length: (\d+)/i.exec(state.head)?.[1]);
          body = data.subarray(data.byteLength - (state.head.length - end - 4));
          socket.pause();
          void held.then(() => socket.resume());
        }
        state.hash.update(body);
        state.left -= body.byteLength;
        const before = state.got;
        state.got += body.byteLength;
        if (state.left === 0) {
          const answer = JSON.stringify({ length: state.got, sha256: state.hash.digest("hex"), slow: true });
          socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${answer.length}\r\n\r\n${answer}`);
        } else if (Math.floor(before / step) !== Math.floor(state.got / step)) {
          socket.pause();
          setTimeout(() => socket.resume(), 20);
        }
      },
    },
  });
  listeners.push(listener);
  return { url: `http://127.0.0.1:${listener.port}`, release };
}

/** Bytes received, kept in one growing buffer (a 16 MiB body must not be copied per read). */
class Received {
  private buf = Buffer.alloc(64 * 1024);
  private start = 0;
  private end = 0;

  push(data: Uint8Array): void {
    if (this.end + data.byteLength > this.buf.length) {
      const live = this.end - this.start;
      const next = Buffer.alloc(Math.max(this.buf.length * 2, live + data.byteLength));
      this.buf.copy(next, 0, this.start, this.end);
      this.buf = next;
      this.start = 0;
      this.end = live;
    }
    this.buf.set(data, this.end);
    this.end += data.byteLength;
  }

  view(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }

  take(n: number): void {
    this.start += n;
  }
}

/** One response as a client reads it off the wire. */
interface RawResponse {
  status: number;
  /** The head's lines, without the blank line that ends it. */
  head: string[];
  headers: [string, string][];
  /** The body, de-chunked. */
  body: Buffer;
  /** The response's bytes exactly as they came. */
  wire: Buffer;
}

/**
 * The first response in `buf`, framed strictly as RFC 9112 says (a HEAD's or a 204/304's has no body),
 * or undefined while it is incomplete. Bytes that are not a response throw.
 */
function parseResponse(buf: Buffer, head: boolean, closed: boolean): RawResponse | undefined {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const lines = buf.toString("latin1", 0, end).split("\r\n");
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(lines[0] as string)?.[1]);
  if (!status) throw new Error(`not a response: ${JSON.stringify(buf.toString("latin1", 0, 80))}`);
  const headers = lines.slice(1).map((line): [string, string] => {
    const colon = line.indexOf(":");
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
  });
  const header = (name: string) => headers.find(([n]) => n === name)?.[1];
  const done = (body: Buffer, length: number): RawResponse => ({
    status,
    head: lines,
    headers,
    body: Buffer.from(body),
    wire: Buffer.from(buf.subarray(0, length)),
  });
  const start = end + 4;
  if (head || status === 204 || status === 304) return done(Buffer.alloc(0), start);
  if (header("transfer-encoding") === "chunked") {
    const parts: Buffer[] = [];
    for (let at = start; ; ) {
      const eol = buf.indexOf("\r\n", at);
      if (eol < 0) return undefined;
      const size = Number.parseInt(buf.toString("latin1", at, eol), 16);
      if (Number.isNaN(size)) throw new Error(`bad chunk size at ${at}`);
      if (buf.length < eol + 2 + size + 2) return undefined;
      if (buf.toString("latin1", eol + 2 + size, eol + 4 + size) !== "\r\n")
        throw new Error(`chunk at ${at} longer than its size`);
      if (size === 0) return done(Buffer.concat(parts), eol + 4);
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      at = eol + 4 + size;
    }
  }
  const length = header("content-length");
  if (length !== undefined) {
    const n = Number(length);
    return buf.length < start + n ? undefined : done(buf.subarray(start, start + n), start + n);
  }
  return closed ? done(buf.subarray(start), buf.length) : undefined;
}

interface RawClient {
  /** Writes all of `data` (latin1 for a string), waiting for the socket to drain as needed. */
  write(data: string | Uint8Array): Promise<void>;
  /** The next response on the connection (`head`: the answer to a HEAD). */
  response(head?: boolean): Promise<RawResponse>;
  /** Waits until `text` has come (without taking it). */
  arrived(text: string): Promise<void>;
  /** Bytes received and not taken by `response`. */
  rest(): string;
  /** Resets the connection (no orderly close). */
  reset(): void;
  /** Resolves once the other side has closed the connection. */
  closed: Promise<void>;
  pause(): void;
  resume(): void;
  end(): void;
}

/** A client on a plain TCP socket, for when the bytes on the wire matter. */
async function connect(port: number): Promise<RawClient> {
  const input = new Received();
  let ended = false;
  let wake: (() => void) | undefined;
  let drained: (() => void) | undefined;
  let onClose = () => {};
  const closed = new Promise<void>((resolve) => {
    onClose = resolve;
  });
  const changed = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const finish = () => {
    ended = true;
    onClose();
    changed();
    drained?.();
  };
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_socket, data) {
        input.push(data);
        changed();
      },
      drain() {
        drained?.();
      },
      close: finish,
      error: finish,
    },
  });
  sockets.push(socket);
  const until = async <T>(probe: () => T | undefined): Promise<T> => {
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      if (ended) throw new Error(`closed with ${JSON.stringify(input.view().toString("latin1", 0, 300))}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  };
  return {
    async write(data) {
      const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
      for (let at = 0; at < bytes.byteLength; ) {
        if (ended) throw new Error(`closed after ${at} of ${bytes.byteLength} bytes`);
        at += Math.max(socket.write(bytes.subarray(at)), 0);
        if (at < bytes.byteLength)
          await new Promise<void>((resolve) => {
            drained = resolve;
          });
      }
    },
    response: (head = false) =>
      until(() => {
        const parsed = parseResponse(input.view(), head, ended);
        if (parsed) input.take(parsed.wire.length);
        return parsed;
      }),
    arrived: (text) =>
      until(() => (input.view().includes(text, 0, "latin1") ? true : undefined)).then(() => {}),
    rest: () => input.view().toString("latin1"),
    reset: () => socket.terminate(),
    closed,
    pause: () => void socket.pause(),
    resume: () => void socket.resume(),
    end: () => socket.end(),
  };
}

/**
 * `bytes` sent to the full server directly, then through the front on `port`: the front's answer,
 * checked to have the status the full server gives (`what` names the case in a failure).
 */
async function asTheFullServerAnswers(port: number, what: string, bytes: string): Promise<RawResponse> {
  const direct = await connect(fallback.port as number);
  await direct.write(bytes);
  const expected = (await direct.response()).status;
  const client = await connect(port);
  await client.write(bytes);
  const res = await client.response();
  expect({ what, status: res.status }).toEqual({ what, status: expected });
  return res;
}

const get = (path: string, extra = "", method = "GET") =>
  `${method} ${path} HTTP/1.1\r\nHost: app.example.test\r\n${extra}\r\n`;

/** A request with `body`, framed by Content-Length. */
const post = (path: string, body: string, method = "POST") =>
  `${method} ${path} HTTP/1.1\r\nHost: app.example.test\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

/** A request with `body` sent chunked: such requests are piped to the full server. */
const chunked = (path: string, body: string) =>
  `POST ${path} HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n` +
  `${body ? `${body.length.toString(16)}\r\n${body}\r\n` : ""}0\r\n\r\n`;

const header = (res: RawResponse, name: string) => res.headers.filter(([n]) => n === name).map(([, v]) => v);

const json = (res: RawResponse) => JSON.parse(res.body.toString()) as Record<string, unknown>;

afterEach(() => {
  for (const f of fronts.splice(0)) f.stop();
  for (const l of listeners.splice(0)) l.stop(true);
  for (const s of sockets.splice(0)) s.terminate();
  closeIdleConnections();
  outcomes.length = 0;
});

afterAll(() => {
  upstream.stop(true);
  fallback.stop(true);
});

describe("readHead: which requests the front answers itself", () => {
  const head = (...lines: string[]) => readHead(["GET / HTTP/1.1", "Host: a.test", ...lines].join("\r\n"));

  test("a plain GET or HEAD in origin form, names lower-cased and values trimmed", () => {
    expect(
      readHead("GET /p?q=1 HTTP/1.1\r\nHost: a.test:8080\r\nAccept:  */* \r\nContent-Length: 0"),
    ).toEqual({
      method: "GET",
      target: "/p?q=1",
      host: "a.test:8080",
      headers: [
        ["host", "a.test:8080"],
        ["accept", "*/*"],
        ["content-length", "0"],
      ],
      length: 0,
      close: false,
    });
    expect(readHead("HEAD / HTTP/1.1\r\nhost: a.test")?.method).toBe("HEAD");
  });

  test("any other method, with a body framed by one Content-Length of plain digits", () => {
    const read = (method: string, length: string) =>
      readHead(`${method} /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: ${length}`);
    expect(read("POST", "5")).toMatchObject({ method: "POST", length: 5 });
    expect(read("PROPFIND", " 17 ")).toMatchObject({ method: "PROPFIND", length: 17 });
    expect(read("GET", "5")?.length).toBe(5);
    expect(read("PUT", "9007199254740991")?.length).toBe(Number.MAX_SAFE_INTEGER);
    expect(readHead("DELETE /x HTTP/1.1\r\nHost: a.test")).toMatchObject({ method: "DELETE", length: 0 });
  });

  test("Connection: close is noted", () => {
    expect(head("Connection: close")?.close).toBe(true);
    expect(head("Connection: keep-alive, Close")?.close).toBe(true);
    expect(head("Connection: keep-alive")?.close).toBe(false);
  });

  test("anything else is left to the full server", () => {
    const refused: Record<string, string> = {
      "HTTP/1.0": "GET / HTTP/1.0\r\nHost: a.test",
      CONNECT: "CONNECT /x HTTP/1.1\r\nHost: a.test",
      "an authority-form target": "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test",
      "an asterisk-form target": "OPTIONS * HTTP/1.1\r\nHost: a.test",
      "a method that is not a token": "PO(ST / HTTP/1.1\r\nHost: a.test",
      "an absolute-form target": "GET http://a.test/ HTTP/1.1\r\nHost: a.test",
      "a bare LF after the request line": "GET / HTTP/1.1\nHost: a.test",
      "a bare LF in a header": "GET / HTTP/1.1\r\nHost: a.test\nX-Admin: 1",
      "a folded line": "GET / HTTP/1.1\r\nHost: a.test\r\nX-A: 1\r\n folded",
      "a space before the colon": "GET / HTTP/1.1\r\nHost : a.test",
      "an odd zero length": "GET / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 00",
      "a leading zero": "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 05",
      "two equal lengths": "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 5",
      "two lengths": "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 6",
      "a list of lengths": "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5, 5",
      "a signed length": "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: +5",
      "a negative length": "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: -1",
      "a hexadecimal length": "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0x10",
      "a fractional length": "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5.0",
      "an empty length": "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: ",
      "a length past 2^53": "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 9007199254740992",
      "a huge length": "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 99999999999999999999999",
      "Transfer-Encoding": "GET / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked",
      "Transfer-Encoding with a length":
        "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked",
      Upgrade: "GET / HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket",
      Expect: "GET / HTTP/1.1\r\nHost: a.test\r\nExpect: 100-continue",
      "Connection: upgrade": "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive, Upgrade",
      "two Hosts": "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test",
      "no Host": "GET / HTTP/1.1\r\nAccept: */*",
      "a Host with a slash": "GET / HTTP/1.1\r\nHost: a.test/x",
      "a control character in a value": "GET / HTTP/1.1\r\nHost: a.test\r\nX-A: a\x01b",
      "a NUL in a value": "GET / HTTP/1.1\r\nHost: a.test\r\nX-A: a\x00b",
      "an empty name": "GET / HTTP/1.1\r\nHost: a.test\r\n: value",
    };
    for (const [what, text] of Object.entries(refused))
      expect({ what, head: readHead(text) }).toEqual({ what, head: undefined });
  });
});

describe("the proxy outpost's HTTP front", () => {
  test("a relayed GET reaches the client exactly as the upstream sent it", async () => {
    const answer =
      "HTTP/1.1 203 Non-Authoritative Information\r\nX-Custom: Mixed Case\r\nContent-Length: 5\r\n\r\nhello";
    const up = rawUpstream((_head, socket) => void socket.write(answer));
    const client = await connect(front({ decide: proxyTo(up.url) }));
    await client.write(get("/exact?q=1"));
    const res = await client.response();
    expect(res.wire.toString("latin1")).toBe(answer);
    expect(up.received[0]).toBe("GET /exact?q=1 HTTP/1.1\r\nhost: app.example.test\r\n\r\n");
    expect(outcomes).toEqual(["proxied"]);
  });

  test("an upstream head that cannot go on unchanged is rewritten without its hop-by-hop headers", async () => {
    const up = rawUpstream((_head, socket) => {
      socket.write(
        Buffer.from(
          "HTTP/1.1 200 Fine\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\n" +
            "X-Name: caf\u00e9\r\nContent-Length: 2\r\n\r\nok",
          "latin1",
        ),
      );
    });
    const client = await connect(front({ decide: proxyTo(up.url) }));
    await client.write(get("/"));
    const res = await client.response();
    expect(res.wire.toString("latin1")).toBe(
      "HTTP/1.1 200 Fine\r\nx-name: caf\u00e9\r\ncontent-length: 2\r\n\r\nok",
    );
  });

  test("requests one after another on one socket, and pipelined in one write, are answered in order", async () => {
    const client = await connect(front());
    for (const path of ["/one", "/two"]) {
      await client.write(get(path));
      const res = await client.response();
      expect(res.status).toBe(200);
      expect(header(res, "x-upstream")).toEqual(["yes"]);
      expect(res.body.toString()).toBe(path);
    }
    await client.write(get("/a") + get("/b?x=1") + get("/c"));
    const bodies = [];
    for (let i = 0; i < 3; i++) bodies.push((await client.response()).body.toString());
    expect(bodies).toEqual(["/a", "/b?x=1", "/c"]);
  });

  test("a chunked upstream body reaches the client chunked", async () => {
    const client = await connect(front());
    await client.write(get("/chunked"));
    const res = await client.response();
    expect(header(res, "transfer-encoding")).toEqual(["chunked"]);
    expect(header(res, "content-length")).toEqual([]);
    expect(res.body.toString()).toBe("one two three");
  });

  test("a body the upstream ends by closing reaches the client chunked, and the client's socket stays open", async () => {
    const up = rawUpstream((_head, socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ");
      socket.end("the end");
    });
    const client = await connect(front({ decide: proxyTo(up.url) }));
    for (let i = 0; i < 2; i++) {
      await client.write(get("/"));
      const res = await client.response();
      expect(header(res, "transfer-encoding")).toEqual(["chunked"]);
      expect(header(res, "content-type")).toEqual(["text/plain"]);
      expect(res.body.toString()).toBe("until the end");
    }
  });

  test("a HEAD answer, a 204 and a 304 carry no body bytes", async () => {
    const client = await connect(front());
    // Pipelined: a stray body byte would show up as the start of the next response.
    await client.write(
      get("/hello", "", "HEAD") +
        get("/chunked", "", "HEAD") +
        get("/no-content") +
        get("/not-modified") +
        get("/after"),
    );
    const head = await client.response(true);
    expect(head.status).toBe(200);
    expect(header(head, "content-length")).toEqual(["6"]);
    expect((await client.response(true)).status).toBe(200);
    const empty = await client.response();
    expect(empty.status).toBe(204);
    expect(header(empty, "x-upstream")).toEqual(["yes"]);
    const unchanged = await client.response();
    expect(unchanged.status).toBe(304);
    expect(header(unchanged, "etag")).toEqual(['"v1"']);
    expect((await client.response()).body.toString()).toBe("/after");
  });

  test("an answer of the outpost's own, decided at once or later, is written with its length, cookies and date", async () => {
    const own = () =>
      new Response("own body", {
        status: 201,
        headers: [
          ["x-own", "yes"],
          ["set-cookie", "a=1; Path=/"],
          ["set-cookie", "b=2; HttpOnly"],
        ],
      });
    const decisions: FrontOptions["decide"][] = [
      () => ({ kind: "response", response: own() }),
      async () => ({ kind: "response", response: own() }),
    ];
    for (const decide of decisions) {
      const client = await connect(front({ decide }));
      await client.write(get("/") + get("/", "", "HEAD") + get("/"));
      const res = await client.response();
      expect(res.status).toBe(201);
      expect(res.body.toString()).toBe("own body");
      expect(header(res, "content-length")).toEqual(["8"]);
      expect(header(res, "x-own")).toEqual(["yes"]);
      expect(header(res, "set-cookie")).toEqual(["a=1; Path=/", "b=2; HttpOnly"]);
      expect(Number.isNaN(Date.parse(header(res, "date")[0] ?? ""))).toBe(false);
      const head = await client.response(true);
      expect(header(head, "content-length")).toEqual(["8"]);
      expect((await client.response()).body.toString()).toBe("own body");
    }
  });

  test("a redirect without a body says content-length: 0", async () => {
    const client = await connect(
      front({
        decide: () => ({
          kind: "response",
          response: new Response(null, { status: 302, headers: { location: "/login" } }),
        }),
      }),
    );
    await client.write(get("/private"));
    const res = await client.response();
    expect(res.status).toBe(302);
    expect(header(res, "location")).toEqual(["/login"]);
    expect(header(res, "content-length")).toEqual(["0"]);
  });

  test("a chunked request body goes to the full server, which learns the client's address", async () => {
    const client = await connect(front());
    await client.write(chunked("/upload", "payload"));
    expect(json(await client.response())).toEqual({
      method: "POST",
      path: "/upload",
      body: "payload",
      ip: "127.0.0.1",
    });
  });

  test("a GET answered here, then a chunked POST on the same connection: the POST and what follows are piped, in order", async () => {
    const client = await connect(front());
    await client.write(`${get("/first")}${chunked("/second", "hello")}${get("/third")}`);
    expect((await client.response()).body.toString()).toBe("/first");
    expect(json(await client.response())).toEqual({
      method: "POST",
      path: "/second",
      body: "hello",
      ip: "127.0.0.1",
    });
    expect(json(await client.response())).toMatchObject({ method: "GET", path: "/third", ip: "127.0.0.1" });
    client.end();
    await eventually("the pipe's entry to leave the map", async () =>
      clients.size === 0 ? true : undefined,
    );
  });

  test("a websocket goes through to the full server", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${front()}/socket`);
    const messages: string[] = [];
    ws.onmessage = (event) => messages.push(String(event.data));
    await eventually("the greeting", async () => messages[0]);
    ws.send("ping");
    await eventually("the echo", async () => messages[1]);
    expect(messages).toEqual(["hello 127.0.0.1", "echo: ping"]);
    ws.close();
  });

  test("bad input gets the full server's own answer, and the front goes on serving", async () => {
    const port = front();
    const inputs: Record<string, string> = {
      "a head over 16 KiB": get("/", `X-Big: ${"a".repeat(20_000)}\r\n`),
      "16 KiB without the end of a head": `GET / HTTP/1.1\r\nHost: a.test\r\nX-Big: ${"a".repeat(17_000)}`,
      "Content-Length beside Transfer-Encoding":
        "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "a folded header": get("/", "X-A: 1\r\n folded\r\n"),
      "garbage bytes": "\x00\x01\x02 not http at all\r\n\r\n",
    };
    for (const [what, bytes] of Object.entries(inputs)) {
      const res = await asTheFullServerAnswers(port, what, bytes);
      expect([400, 431]).toContain(res.status);
      const next = await connect(port);
      await next.write(get("/still-here"));
      expect((await next.response()).body.toString()).toBe("/still-here");
    }
  });

  test("a request in HTTP/1.0 is piped to the full server", async () => {
    const client = await connect(front());
    await client.write("GET /old HTTP/1.0\r\nHost: a.test\r\n\r\n");
    expect(json(await client.response())).toEqual({ method: "GET", path: "/old", body: "", ip: "127.0.0.1" });
  });

  test("a large upload and a large download through the pipe arrive intact", async () => {
    const port = front();
    const upload = await connect(port);
    await upload.write(
      `POST /digest HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n`,
    );
    await upload.write(big);
    await upload.write("\r\n0\r\n\r\n");
    expect(json(await upload.response())).toEqual({ length: big.length, sha256: sha256(big) });
    const download = await connect(port);
    await download.write(chunked("/download", ""));
    await download.arrived("HTTP/1.1 200 ");
    download.pause();
    await Bun.sleep(300);
    download.resume();
    const res = await download.response();
    expect(res.body.length).toBe(big.length);
    expect(sha256(res.body)).toBe(sha256(big));
  });

  test("a decision that throws ends that connection only", async () => {
    const proxy = proxyTo(upstreamUrl);
    const port = front({
      decide: (request, ip) => {
        if (request.url.endsWith("/throw")) throw new Error("handler broke");
        return proxy(request, ip);
      },
    });
    const client = await connect(port);
    await client.write(get("/throw"));
    await client.closed;
    expect(client.rest()).toBe("");
    expect(log.lines.some((line) => line.code === "PX0004FrontFailed")).toBe(true);
    const next = await connect(port);
    await next.write(get("/fine"));
    expect((await next.response()).body.toString()).toBe("/fine");
  });

  test("forward auth's yes is the identity's prepared lines, with the client's User-Agent passed back", async () => {
    const app = testApplication();
    const identity = (attributes: Record<string, unknown>) =>
      prepareIdentity(
        app,
        {
          claims: { sub: "u1", preferred_username: "Łukasz", ak_proxy: { user_attributes: attributes } },
          token: "jwt",
          sid: null,
          expires: Date.now() + 60_000,
        },
        { outpost: "o" },
      );
    const plain = identity({});
    const ownAgent = identity({ additionalHeaders: { "User-Agent": "from-attributes" } });
    const client = await connect(
      front({
        decide: (request) => ({
          kind: "identity",
          identity: request.url.endsWith("/own") ? ownAgent : plain,
          agent: request.headers.get("user-agent"),
        }),
      }),
    );
    await client.write(get("/", "User-Agent: curl/8\r\n") + get("/own", "User-Agent: curl/8\r\n"));
    const res = await client.response();
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(0);
    const headers = new Map(res.headers.map(([n, v]) => [n.toLowerCase(), v]));
    // The name goes out as its UTF-8 bytes, as authentik's outpost sends it.
    expect(Buffer.from(headers.get("x-authentik-username") ?? "", "latin1").toString("utf8")).toBe("Łukasz");
    expect(headers.get("x-authentik-uid")).toBe("u1");
    expect(headers.get("user-agent")).toBe("curl/8");
    expect(headers.get("content-length")).toBe("0");
    expect(Number.isNaN(Date.parse(headers.get("date") ?? ""))).toBe(false);
    // An identity header named User-Agent is replaced by the client's, not sent twice.
    const own = await client.response();
    expect(own.headers.filter(([n]) => n.toLowerCase() === "user-agent")).toEqual([["user-agent", "curl/8"]]);
  });

  test("a websocket decision, which a GET without Upgrade cannot use, is a 400 page", async () => {
    const internalHost = upstreamUrl;
    const client = await connect(
      front({
        decide: () => ({
          kind: "websocket",
          app: testApplication({ internal_host: internalHost }),
          target: upstreamTarget(internalHost, { pathname: "/", search: "" }),
          headers: new Headers(),
          protocols: [],
        }),
      }),
    );
    await client.write(get("/"));
    const res = await client.response();
    expect(res.status).toBe(400);
    expect(res.body.toString()).toContain("The websocket upgrade failed.");
  });

  test("a request for a full server that cannot be reached closes the connection, and says why", async () => {
    const gone = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    gone.stop(true);
    const client = await connect(front({ fallbackPort: gone.port }));
    await client.write(chunked("/", "hi"));
    await client.closed;
    expect(client.rest()).toBe("");
    expect(log.lines.some((line) => line.code === "PX0005PipeFailed")).toBe(true);
  });

  test("Connection: close is answered with connection: close, then the socket is closed", async () => {
    const own = front({ decide: () => ({ kind: "response", response: new Response("own") }) });
    for (const port of [front(), own]) {
      const client = await connect(port);
      // The second request must not be answered: the connection ends after the first.
      await client.write(get("/last", "Connection: close\r\n") + get("/never"));
      const res = await client.response();
      expect(res.status).toBe(200);
      expect(header(res, "connection")).toEqual(["close"]);
      await client.closed;
      expect(client.rest()).toBe("");
    }
  });

  test("an upstream that is down is a 502 page; one that does not answer in time is a 504", async () => {
    const dead = rawUpstream(() => {});
    listeners.pop()?.stop(true);
    const down = await fetch(`http://127.0.0.1:${front({ decide: proxyTo(dead.url) })}/`);
    expect(down.status).toBe(502);
    expect(await down.text()).toContain("Bad gateway");
    const silent = rawUpstream(() => {});
    const slow = await fetch(
      `http://127.0.0.1:${front({ decide: proxyTo(silent.url), upstreamTimeoutMs: 200 })}/`,
    );
    expect(slow.status).toBe(504);
    expect(await slow.text()).toContain("Gateway timeout");
    expect(outcomes).toEqual(["upstream_down", "upstream_timeout"]);
    await eventually("the silent upstream's socket to be dropped", async () =>
      silent.closed() > 0 ? true : undefined,
    );
  });

  test("a client leaving in the middle of a slow body ends the upstream request; the front serves on", async () => {
    const slow = rawUpstream((_head, socket) => {
      // The first chunk, then nothing: the rest never comes.
      socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n");
    });
    const port = front({ decide: proxyTo(slow.url) });
    const client = await connect(port);
    await client.write(get("/stream"));
    await client.arrived("first");
    client.end();
    await eventually("the upstream's socket to close", async () => (slow.closed() > 0 ? true : undefined));
    const next = await connect(port);
    await next.write(get("/again"));
    await next.arrived("first");
  });

  test("a large body read slowly by the client arrives whole, framed by length or chunked", async () => {
    const port = front();
    for (const path of ["/big", "/big-chunked"]) {
      const client = await connect(port);
      await client.write(get(path));
      await client.arrived("HTTP/1.1 200 ");
      // The client stops reading: the front meets a full socket and must hold the upstream back.
      client.pause();
      await Bun.sleep(300);
      client.resume();
      const res = await client.response();
      expect(res.body.length).toBe(big.length);
      expect(sha256(res.body)).toBe(sha256(big));
    }
  });
  test("a body the upstream cuts short ends the client's connection instead of looking complete", async () => {
    const answers = [
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nonly this\r\n",
    ];
    for (const answer of answers) {
      const up = rawUpstream((_head, socket) => {
        socket.write(answer);
        socket.end();
      });
      const client = await connect(front({ decide: proxyTo(up.url) }));
      await client.write(get("/"));
      await expect(client.response()).rejects.toThrow("closed");
      expect(client.rest()).toContain("only this");
      expect(client.rest()).not.toEndWith("0\r\n\r\n");
    }
  });

  test("more pipelined requests than the front buffers are all answered, in order", async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The first answer waits until all the requests are sent; the front must stop reading, not drop any.
    const port = front({
      decide: async (request) => {
        if (request.url.endsWith("/first")) await held;
        return { kind: "response", response: new Response(new URL(request.url).pathname) };
      },
    });
    const client = await connect(port);
    const count = 60_000;
    const paths = Array.from({ length: count }, (_, i) => `/${i}`);
    await client.write(get("/first"));
    const sent = client.write(paths.map((path) => `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`).join(""));
    await Bun.sleep(100);
    release();
    await sent;
    expect((await client.response()).body.toString()).toBe("/first");
    for (const path of paths) {
      const body = (await client.response()).body.toString();
      if (body !== path) expect(body).toBe(path);
    }
  });

  // Each answer decided and written at once (a redirect, a 204) used to go straight on to the next
  // buffered request in the same call stack, which overflowed after ≈3 000 pipelined requests.
  test("many pipelined requests answered at once without a body are all answered", async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const port = front({
      decide: (request) => {
        const response = new Response(null, { status: 204 });
        if (!request.url.endsWith("/first")) return { kind: "response", response };
        return held.then(() => ({ kind: "response", response }));
      },
    });
    const client = await connect(port);
    const count = 30_000;
    await client.write(get("/first") + "GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(count));
    release();
    let answered = 0;
    while (answered <= count && (await client.response().catch(() => undefined))?.status === 204) answered++;
    expect(answered).toBe(count + 1);
  });

  // Answers to pipelined requests used to be queued without bound for a client that does not read
  // them (40 MiB of requests grew the outpost by 276–869 MiB). The next request now waits for the
  // previous answer to leave, so such a client's writes stall once the kernel's buffers are full.
  test("a client that sends requests and never reads its answers is not read without end", async () => {
    // Decided later, so that the call stack (see above) plays no part.
    const port = front({
      decide: async () => ({ kind: "response", response: new Response(null, { status: 204 }) }),
    });
    let drained = () => {};
    let closed = false;
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data() {},
        drain: () => drained(),
        close() {
          closed = true;
          drained();
        },
      },
    });
    sockets.push(socket);
    socket.pause();
    const requests = Buffer.from("GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(200));
    const limit = 24 * 1024 * 1024;
    let written = 0;
    let stalled = false;
    while (written < limit && !stalled && !closed) {
      written += Math.max(socket.write(requests.subarray(written % requests.length)), 0);
      if (written % requests.length === 0) continue;
      // The socket is full: it drains while the front reads on; a second without a drain is a stall.
      stalled = !(await Promise.race([
        new Promise<boolean>((resolve) => {
          drained = () => resolve(true);
        }),
        Bun.sleep(1000).then(() => false),
      ]));
    }
    expect({ closed, stalled }).toEqual({ closed: false, stalled: true });
  });

  // The pipe's `open` must notice that its client already left (else its entry in the map stays for good).
  test("a client that leaves before its pipe opens leaves nothing behind", async () => {
    const port = front();
    for (let i = 0; i < 5; i++) {
      const client = await connect(port);
      await client.write(chunked("/gone", "hi"));
      client.reset();
    }
    await eventually("the pipes' entries to leave the map", async () =>
      clients.size === 0 ? true : undefined,
    );
  });

  // Bun checks socket timeouts every few seconds: a 1-second timeout fires after a few seconds, and the
  // test waits for it rather than timing it.
  test("a keep-alive connection left idle is closed after the idle timeout; one waiting for its answer is not", async () => {
    let answer = () => {};
    const slow = rawUpstream((_head, socket) => {
      answer = () => void socket.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate");
    });
    const toSlow = proxyTo(slow.url);
    const toFast = proxyTo(upstreamUrl);
    const port = front({
      decide: (request, ip) => (request.url.endsWith("/slow") ? toSlow : toFast)(request, ip),
      upstreamTimeoutMs: 60_000,
      idleTimeoutSeconds: 1,
    });
    // Opened first, so its timeout is due no later than the idle connection's.
    const waiting = await connect(port);
    await waiting.write(get("/slow"));
    await eventually("the slow upstream to have the request", async () => slow.received[0]);
    const idle = await connect(port);
    await idle.write(get("/fast"));
    expect((await idle.response()).body.toString()).toBe("/fast");
    await idle.closed;
    expect(idle.rest()).toBe("");
    answer();
    expect((await waiting.response()).body.toString()).toBe("late");
    await waiting.write(get("/after"));
    expect((await waiting.response()).body.toString()).toBe("/after");
  });

  // Bun hands an exception thrown in a socket callback to the `error` handler and leaves the socket open.
  test("a connection whose handling throws is closed and logged, and the front serves on", async () => {
    const port = front({
      full: () => {
        throw new Error("the full server could not start");
      },
    });
    const client = await connect(port);
    await client.write(chunked("/upload", "hi"));
    await client.closed;
    expect(client.rest()).toBe("");
    expect(log.lines).toContainEqual(
      expect.objectContaining({ code: "PX0006FrontSocketFailed", error: "the full server could not start" }),
    );
    const next = await connect(port);
    await next.write(get("/still-here"));
    expect((await next.response()).body.toString()).toBe("/still-here");
  });

  test("a client that resets its connection in the middle of a body ends the upstream request; the front serves on", async () => {
    const up = rawUpstream((_head, socket) => {
      // More than the socket buffers take, and then the rest never comes.
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length * 2}\r\n\r\n`);
      socket.write(big);
    });
    const port = front({ decide: proxyTo(up.url) });
    const client = netConnect(port, "127.0.0.1");
    await once(client, "connect");
    client.write(get("/reset"));
    await once(client, "data");
    client.pause();
    // SO_LINGER 0: the front's next read or write meets ECONNRESET.
    client.resetAndDestroy();
    await eventually("the upstream's socket to close", async () => (up.closed() > 0 ? true : undefined));
    const next = await connect(port);
    await next.write(get("/again"));
    await next.arrived("HTTP/1.1 200 OK");
  });
});

describe("request bodies framed by Content-Length, read by the front", () => {
  test("a POST goes upstream from here with its body intact, and the connection stays here", async () => {
    const client = await connect(front());
    await client.write(post("/echo", "hello"));
    const res = await client.response();
    // The upstream's answer: the full server's would say where the client came from.
    expect(header(res, "x-upstream")).toEqual(["yes"]);
    expect(json(res)).toEqual({ method: "POST", path: "/echo", body: "hello" });
    // The body's end in a later read than its head.
    const parts = post("/echo", "in two parts", "PUT");
    await client.write(parts.slice(0, -5));
    await Bun.sleep(20);
    await client.write(parts.slice(-5));
    expect(json(await client.response())).toEqual({ method: "PUT", path: "/echo", body: "in two parts" });
    await client.write(get("/after"));
    const after = await client.response();
    expect(header(after, "x-upstream")).toEqual(["yes"]);
    expect(after.body.toString()).toBe("/after");
    expect(outcomes).toEqual(["proxied", "proxied", "proxied"]);
  });

  test("pipelined POST, GET, PUT and PATCH in one write are answered in order; a body is never a request", async () => {
    const client = await connect(front());
    await client.write(
      post("/echo", get("/hidden")) +
        get("/between") +
        post("/echo", "", "PUT") +
        post("/echo", "last", "PATCH"),
    );
    expect(json(await client.response())).toEqual({ method: "POST", path: "/echo", body: get("/hidden") });
    expect((await client.response()).body.toString()).toBe("/between");
    expect(json(await client.response())).toEqual({ method: "PUT", path: "/echo", body: "" });
    expect(json(await client.response())).toEqual({ method: "PATCH", path: "/echo", body: "last" });
    await Bun.sleep(50);
    expect(client.rest()).toBe("");
  });

  test("a GET's body is not sent upstream (as Bun's server does) and is not taken for a request", async () => {
    const up = rawUpstream(
      (_head, socket) => void socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    );
    const client = await connect(front({ decide: proxyTo(up.url) }));
    await client.write(post("/with-body", get("/hidden"), "GET") + get("/next"));
    expect((await client.response()).body.toString()).toBe("ok");
    expect((await client.response()).body.toString()).toBe("ok");
    expect(up.received).toEqual([
      "GET /with-body HTTP/1.1\r\nhost: app.example.test\r\ncontent-length: 0\r\n\r\n",
      "GET /next HTTP/1.1\r\nhost: app.example.test\r\n\r\n",
    ]);
  });

  test("a 16 MiB upload to an upstream that reads slowly arrives intact, the client held back meanwhile", async () => {
    const slow = digestUpstream();
    const client = await connect(front({ decide: proxyTo(slow.url) }));
    Bun.gc(true);
    const before = process.memoryUsage().heapUsed;
    await client.write(`POST /digest HTTP/1.1\r\nHost: a.test\r\nContent-Length: ${big.length}\r\n\r\n`);
    const piece = 1024 * 1024;
    let sent = 0;
    const writing = (async () => {
      for (; sent < big.length; sent += piece) await client.write(big.subarray(sent, sent + piece));
    })();
    // The upstream reads nothing yet: the client's writes stall once the buffers on the way are full.
    for (let last = -1; sent !== last; ) {
      last = sent;
      await Bun.sleep(300);
    }
    Bun.gc(true);
    const held = process.memoryUsage().heapUsed - before;
    slow.release();
    await writing;
    expect(json(await client.response())).toEqual({ length: big.length, sha256: sha256(big), slow: true });
    // Without backpressure the front read all the client sent: ≈12 MiB more here, the rest in the kernel.
    expect(held).toBeLessThan(4 * 1024 * 1024);
  });

  /** As for a user not signed in: a POST is sent to sign in; anything else goes upstream. */
  const signInFirst: FrontOptions["decide"] = (request, ip) =>
    request.method === "POST"
      ? { kind: "response", response: new Response(null, { status: 302, headers: { location: "/sign-in" } }) }
      : proxyTo(upstreamUrl)(request, ip);

  test("a POST the handler answers itself: a small body is read and dropped, and the connection serves on", async () => {
    const client = await connect(front({ decide: signInFirst }));
    // The body came with its head.
    await client.write(post("/form", get("/hidden")) + get("/one"));
    expect((await client.response()).status).toBe(302);
    expect((await client.response()).body.toString()).toBe("/one");
    // The body comes after the answer.
    const form = post("/form", `${get("/hidden")}${"x".repeat(30_000)}`);
    const cut = form.indexOf("\r\n\r\n") + 4;
    await client.write(form.slice(0, cut));
    const answer = await client.response();
    expect(answer.status).toBe(302);
    expect(header(answer, "connection")).toEqual([]);
    await client.write(form.slice(cut, cut + 1000));
    await Bun.sleep(20);
    await client.write(form.slice(cut + 1000) + get("/two"));
    expect((await client.response()).body.toString()).toBe("/two");
    await Bun.sleep(50);
    expect(client.rest()).toBe("");
  });

  test("a POST the handler answers itself with a large body still to come: the answer closes the connection", async () => {
    const client = await connect(front({ decide: signInFirst }));
    await client.write(`POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: ${big.length}\r\n\r\n`);
    await client.write(big.subarray(0, 100_000));
    const answer = await client.response();
    expect(answer.status).toBe(302);
    expect(header(answer, "connection")).toEqual(["close"]);
    // What the client still sends is read and dropped until it sees the end.
    await client.write(big.subarray(100_000, 200_000)).catch(() => {});
    await client.closed;
    expect(client.rest()).toBe("");
  });

  test("an answer that closes the connection reaches a client still sending its body, whole", async () => {
    const page = Buffer.alloc(512 * 1024, "p").toString();
    const client = await connect(
      front({ decide: () => ({ kind: "response", response: new Response(page, { status: 403 }) }) }),
    );
    await client.write(`POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: ${big.length}\r\n\r\n`);
    // The client reads nothing for a while and sends its body on: the answer waits in the buffers on the
    // way while the client's bytes keep coming. Closing the socket then would reset the connection, and
    // the client would lose the answer's end.
    client.pause();
    let sending = true;
    const writing = (async () => {
      for (let at = 0; sending && at < big.length; at += 16 * 1024) {
        await client.write(big.subarray(at, at + 16 * 1024));
        await Bun.sleep(2);
      }
    })().catch(() => {});
    await Bun.sleep(300);
    client.resume();
    const answer = await client.response();
    sending = false;
    await writing;
    expect(answer.status).toBe(403);
    expect(answer.body.length).toBe(page.length);
    expect(header(answer, "connection")).toEqual(["close"]);
    await client.closed;
  });

  test("an upstream that refuses a body before reading it: the client gets its answer, and no body byte is taken for a request", async () => {
    const refusing = rawUpstream(
      (_head, socket) =>
        void socket.write("HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\n\r\ntoo big!"),
    );
    const toRefusing = proxyTo(refusing.url);
    const toApp = proxyTo(upstreamUrl);
    const port = front({
      decide: (request, ip) => (request.method === "POST" ? toRefusing : toApp)(request, ip),
    });
    // A small body: dropped as it comes, and the connection serves on.
    const client = await connect(port);
    const small = post("/upload", get("/hidden") + "x".repeat(10_000));
    const cut = small.indexOf("\r\n\r\n") + 4;
    await client.write(small.slice(0, cut));
    const refused = await client.response();
    expect(refused.status).toBe(413);
    expect(refused.body.toString()).toBe("too big!");
    await client.write(small.slice(cut) + get("/next"));
    expect((await client.response()).body.toString()).toBe("/next");
    // A large one, the upstream answering while its start is on the way: the answer closes the connection.
    const large = await connect(port);
    await large.write(`POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: ${big.length}\r\n\r\n`);
    await large.write("x".repeat(64 * 1024));
    const closing = await large.response();
    expect(closing.status).toBe(413);
    expect(closing.body.toString()).toBe("too big!");
    expect(header(closing, "connection")).toEqual(["close"]);
    await large.closed;
    expect(large.rest()).toBe("");
    expect(outcomes).toEqual(["proxied", "proxied", "proxied"]);
  });

  test("an upstream that is down is a 502 page, one too slow a 504; with the body not all in, the connection then closes", async () => {
    const dead = rawUpstream(() => {});
    listeners.pop()?.stop(true);
    const down = await connect(front({ decide: proxyTo(dead.url) }));
    await down.write(post("/whole", "all here"));
    expect((await down.response()).status).toBe(502);
    const partial = post("/partial", "not all here");
    await down.write(partial.slice(0, -4));
    const res = await down.response();
    expect(res.status).toBe(502);
    expect(header(res, "connection")).toEqual(["close"]);
    await down.closed;
    // A client that stops sending its body: the upstream's time counts from the last byte sent.
    const silent = rawUpstream(() => {});
    const stalled = await connect(front({ decide: proxyTo(silent.url), upstreamTimeoutMs: 300 }));
    await stalled.write(partial.slice(0, -4));
    const late = await stalled.response();
    expect(late.status).toBe(504);
    expect(header(late, "connection")).toEqual(["close"]);
    await stalled.closed;
    expect(outcomes).toEqual(["upstream_down", "upstream_down", "upstream_timeout"]);
  });

  test("a client that leaves in the middle of its body ends the upstream request; the front serves on", async () => {
    const waiting = rawUpstream(() => {});
    const toWaiting = proxyTo(waiting.url);
    const toApp = proxyTo(upstreamUrl);
    const port = front({
      decide: (request, ip) => (request.method === "POST" ? toWaiting : toApp)(request, ip),
    });
    let left = 0;
    for (const leave of ["end", "reset"] as const) {
      const client = await connect(port);
      await client.write(post("/upload", "x".repeat(1000)).slice(0, -500));
      await eventually("the upstream to have the request", async () =>
        waiting.received.length > left ? true : undefined,
      );
      client[leave]();
      left++;
      await eventually("the upstream's socket to close", async () =>
        waiting.closed() === left ? true : undefined,
      );
    }
    const next = await connect(port);
    await next.write(get("/again"));
    expect((await next.response()).body.toString()).toBe("/again");
  });

  test("a Content-Length that parsers might read differently is left to the full server", async () => {
    const port = front();
    const lengths: Record<string, string> = {
      "two equal lengths": "Content-Length: 5\r\nContent-Length: 5",
      "two lengths": "Content-Length: 5\r\nContent-Length: 6",
      "a list": "Content-Length: 5, 5",
      "a sign": "Content-Length: +5",
      "hexadecimal digits": "Content-Length: 0x10",
      "a leading zero": "Content-Length: 05",
      "a huge length": "Content-Length: 99999999999999999999",
      "a length and Transfer-Encoding": "Content-Length: 5\r\nTransfer-Encoding: chunked",
    };
    for (const [what, lines] of Object.entries(lengths)) {
      const bytes = `POST /echo HTTP/1.1\r\nHost: a.test\r\n${lines}\r\n\r\nhello`;
      const res = await asTheFullServerAnswers(port, what, bytes);
      // The full server's answer, through the pipe: never the upstream's.
      expect({ what, upstream: header(res, "x-upstream") }).toEqual({ what, upstream: [] });
      if (res.status === 200)
        expect(json(res)).toMatchObject({ method: "POST", body: "hello", ip: "127.0.0.1" });
    }
  });
});

describe("PROXY protocol headers from trusted proxies", () => {
  /** Answers every request here with the client's address as the front sees it. */
  const whoAsks: FrontOptions["decide"] = (_request, clientIp) => ({
    kind: "response",
    response: new Response(clientIp()),
  });
  const loopback = new TrustedProxies("127.0.0.0/8, ::1/128");
  const v1 = "PROXY TCP4 203.0.113.7 192.0.2.1 56324 80\r\n";
  const piped = chunked("/second", "hello");

  test("a v1 header names the client for requests answered here and for piped ones", async () => {
    const client = await connect(front({ decide: whoAsks, trustedProxies: loopback }));
    await client.write(`${v1}${get("/first")}${piped}`);
    expect((await client.response()).body.toString()).toBe("203.0.113.7");
    expect(json(await client.response())).toMatchObject({ method: "POST", ip: "203.0.113.7" });
  });

  test("a v2 header that comes in pieces is waited for, then names the client", async () => {
    const header = Buffer.from([
      ...[0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a],
      0x21,
      0x21,
      0,
      36,
      ...[0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 0x07],
      ...Array(16).fill(0),
      ...[0xdc, 0x04, 0x00, 0x50],
    ]);
    const client = await connect(front({ decide: whoAsks, trustedProxies: loopback }));
    await client.write(header.subarray(0, 7));
    await Bun.sleep(20);
    await client.write(header.subarray(7, 20));
    await Bun.sleep(20);
    await client.write(Buffer.concat([header.subarray(20), Buffer.from(get("/first"))]));
    expect((await client.response()).body.toString()).toBe("2001:db8::7");
  });

  test("without a header, a trusted peer's connection is its own", async () => {
    const client = await connect(front({ decide: whoAsks, trustedProxies: loopback }));
    await client.write(`${get("/first")}${piped}`);
    expect((await client.response()).body.toString()).toBe("127.0.0.1");
    expect(json(await client.response())).toMatchObject({ method: "POST", ip: "127.0.0.1" });
  });

  test("from a peer that is not trusted, a PROXY header is not read: it is a bad request", async () => {
    for (const trustedProxies of [new TrustedProxies("10.0.0.0/8"), undefined]) {
      const seen: string[] = [];
      const port = front({
        decide: (request, clientIp) => {
          seen.push(clientIp());
          return whoAsks(request, clientIp);
        },
        ...(trustedProxies && { trustedProxies }),
      });
      const client = await connect(port);
      await client.write(`${v1}${get("/first")}`);
      expect((await client.response()).status).toBe(400);
      expect(seen).toEqual([]);
    }
  });

  test("a malformed header ends the connection and is logged; the front serves on", async () => {
    const port = front({ decide: whoAsks, trustedProxies: loopback });
    const client = await connect(port);
    await client.write(`PROXY TCP4 203.0.113.999 192.0.2.1 1 2\r\n${get("/first")}`);
    await client.closed;
    expect(client.rest()).toBe("");
    expect(log.lines).toContainEqual(
      expect.objectContaining({ code: "PX0008ProxyHeaderInvalid", peer: "127.0.0.1" }),
    );
    const again = await connect(port);
    await again.write(`${v1}${get("/first")}`);
    expect((await again.response()).body.toString()).toBe("203.0.113.7");
  });
});
