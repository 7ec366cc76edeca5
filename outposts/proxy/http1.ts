/**
 * Proxy mode's HTTP/1.1 client: one request to internal_host over a pooled keep-alive socket
 * (`Bun.connect`, TLS for https), the head written here and the answer read by ResponseParser on the
 * event loop. Bun's `fetch` hands every request to its own HTTP thread and back; doing the same work on
 * the loop measured ≈0.7× the CPU per request and 1.06–1.13× the rate (tests/bench/proxy.bench.ts),
 * which is why the outpost does not use `fetch` for this leg.
 *
 * Bodies stream both ways with backpressure: the request body is written as the client sends it
 * (chunked when it has no length), and the response body, unless it arrived whole with its head, is a
 * stream that pauses the socket while the client is slower than the upstream. A socket goes back to the
 * pool only after a cleanly framed response to a fully sent request; a pooled socket the upstream closed
 * before answering is retried once on a new one for requests that are safe to repeat.
 */
import type { Socket, SocketHandler } from "bun";
import { ProtocolError, type ResponseEvents, type ResponseHead, ResponseParser } from "./http1-response.ts";

export { ProtocolError };

/** Where requests go: an upstream's scheme, host and port, parsed once (see `upstreamOrigin`). */
export interface Origin {
  /** `http://host:port`: the pool's key and the base for URLs. */
  href: string;
  tls: boolean;
  /** For connecting and SNI (an IPv6 address without brackets). */
  hostname: string;
  port: number;
  /** The Host header: host[:port] as the URL has it. */
  host: string;
}

export interface UpstreamRequest {
  method: string;
  origin: Origin;
  /** The request target: path and query, starting with "/". */
  path: string;
  /** Request headers, end-to-end only (a `host` among them replaces the origin's). */
  headers: [string, string][];
  /**
   * More header lines, already checked (no line breaks in values) and formatted ("Name: value\r\n"
   * each), written after `headers`: the identity headers, built once per signed-in user.
   */
  lines?: { text: string; ascii: boolean };
  body: ReadableStream<Uint8Array> | null;
  verifyTls: boolean;
  /**
   * How long the upstream may take to connect and start answering, counted from the last byte of the
   * request body sent while one is being sent.
   */
  timeoutMs: number;
  /** Aborted when the client goes away: the exchange is dropped with its socket. */
  signal?: AbortSignal;
}

/**
 * Where a relayed response goes instead of a Response object (the outpost's own HTTP front, front.ts):
 * its head, then its decoded body in the order it arrives, then the end or an error.
 */
export interface ResponseSink {
  /** The head, with whatever of the body came along (`complete` when that was all of it). */
  head(head: ResponseHead, body: Uint8Array[], complete: boolean): void;
  /** More of the body; false asks the upstream socket to stop reading until `control.resume()`. */
  body(chunk: Uint8Array): boolean;
  done(): void;
  /** The exchange failed after the head was handed on (the body is cut short). */
  error(err: unknown): void;
  /** Set by the exchange when it starts: resume reading after backpressure, or drop the exchange. */
  control?: { resume(): void; cancel(): void };
}

export class UpstreamTimeout extends Error {}

/** Idle sockets are closed after this long (undici's default; most servers keep idle sockets 5 s+). */
const IDLE_SECONDS = 4;
/** Idle sockets kept per upstream origin; more are closed as their requests finish. */
const MAX_IDLE_PER_ORIGIN = 128;
/** Safe to send twice (RFC 9110 §9.2.2), so retried when a pooled socket turns out to be closed. */
const REPLAYABLE = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);
const UNSAFE_VALUE = /[\r\n\0]/;

interface Connection {
  socket: Socket<Connection> | undefined;
  origin: string;
  exchange: Exchange | undefined;
  closed: boolean;
}

const idle = new Map<string, Connection[]>();

const handlers: SocketHandler<Connection> = {
  data(socket, data) {
    const conn = socket.data;
    if (conn.exchange) conn.exchange.received(data);
    // Bytes on an idle socket: the upstream is out of step, so it is not used again.
    else socket.terminate();
  },
  drain(socket) {
    socket.data.exchange?.drained();
  },
  close(socket, error) {
    connectionClosed(socket.data, error);
  },
  error(socket, error) {
    connectionClosed(socket.data, error);
  },
  timeout(socket) {
    // Inactivity: an idle socket is closed; a busy one (a slow stream) is left alone and re-armed.
    if (socket.data.exchange) socket.timeout(IDLE_SECONDS);
    else socket.end();
  },
};

function connectionClosed(conn: Connection, error?: Error): void {
  if (conn.closed) return;
  conn.closed = true;
  const pool = idle.get(conn.origin);
  const at = pool ? pool.indexOf(conn) : -1;
  if (pool && at >= 0) pool.splice(at, 1);
  conn.exchange?.socketClosed(error);
}

export function upstreamOrigin(url: URL): Origin {
  const tls = url.protocol === "https:";
  return {
    href: url.origin,
    tls,
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: Number(url.port) || (tls ? 443 : 80),
    host: url.host,
  };
}

/** The pool key: TLS sockets opened without verifying the certificate are kept apart. */
const poolKey = (origin: Origin, verifyTls: boolean) =>
  origin.tls && !verifyTls ? `${origin.href}#insecure` : origin.href;

async function connect(origin: Origin, key: string, verifyTls: boolean): Promise<Connection> {
  const conn: Connection = { socket: undefined, origin: key, exchange: undefined, closed: false };
  const { hostname } = origin;
  conn.socket = await Bun.connect<Connection>({
    hostname,
    port: origin.port,
    data: conn,
    socket: handlers,
    ...(origin.tls && { tls: { rejectUnauthorized: verifyTls, serverName: hostname } }),
  });
  conn.socket.timeout(IDLE_SECONDS);
  return conn;
}

function release(conn: Connection): void {
  conn.exchange = undefined;
  const socket = conn.socket;
  if (!socket || conn.closed) return;
  let pool = idle.get(conn.origin);
  if (!pool) {
    pool = [];
    idle.set(conn.origin, pool);
  }
  if (pool.length >= MAX_IDLE_PER_ORIGIN) {
    socket.end();
    return;
  }
  pool.push(conn);
}

const NON_ASCII = /[\u0080-\uffff]/;

/**
 * The request head. Header strings hold one byte per character (Bun reads them as latin1, identity
 * headers are UTF-8 bytes already), so a head with any byte over 0x7f is written as latin1 bytes; an
 * all-ASCII one is written as the string itself (no copy into a Buffer).
 */
function requestHead(request: UpstreamRequest, chunked: boolean): string | Buffer {
  let host = request.origin.host;
  let lines = "";
  for (const [name, value] of request.headers) {
    if (UNSAFE_VALUE.test(value))
      throw new ProtocolError(`request header ${JSON.stringify(name)} has a line break in it`);
    if (name === "host" || name === "Host") host = value;
    // No body is sent (Bun drops a GET's): a length the client gave must not make the upstream wait.
    else if (request.body === null && (name === "content-length" || name === "Content-Length"))
      lines += "content-length: 0\r\n";
    else lines += `${name}: ${value}\r\n`;
  }
  if (chunked) lines += "transfer-encoding: chunked\r\n";
  const start = `${request.method} ${request.path} HTTP/1.1\r\nhost: ${host}\r\n${lines}`;
  const extra = request.lines;
  const head = extra ? `${start}${extra.text}\r\n` : `${start}\r\n`;
  return NON_ASCII.test(start) || (extra && !extra.ascii) ? Buffer.from(head, "latin1") : head;
}

/**
 * Sends a request upstream and resolves with the response as soon as its head is in. Rejects with
 * UpstreamTimeout, ProtocolError or the socket's error (connection refused, TLS failure, reset).
 */
export function sendUpstream(request: UpstreamRequest): Promise<Response> {
  return exchange(request, undefined) as Promise<Response>;
}

/**
 * Sends a request upstream and hands the response to `sink`; resolves once the head is handed on.
 * Rejects as sendUpstream does (nothing reached the sink then).
 */
export async function relayUpstream(request: UpstreamRequest, sink: ResponseSink): Promise<void> {
  await exchange(request, sink);
}

async function exchange(
  request: UpstreamRequest,
  sink: ResponseSink | undefined,
): Promise<Response | undefined> {
  const origin = poolKey(request.origin, request.verifyTls);
  const replayable = request.body === null && REPLAYABLE.has(request.method);
  const deadline = Date.now() + request.timeoutMs;
  for (let attempt = 0; ; attempt++) {
    const pooled = idle.get(origin)?.pop();
    const running = new Exchange(request, deadline, sink);
    try {
      return await running.run(pooled, origin);
    } catch (err) {
      // A pooled socket closed by the upstream while idle: nothing was answered, so try a fresh one.
      if (pooled && attempt === 0 && replayable && running.stale) continue;
      throw err;
    }
  }
}

class Exchange implements ResponseEvents {
  private conn: Connection | undefined;
  private parser: ResponseParser;
  private responseHead: ResponseHead | undefined;
  private chunks: Uint8Array[] = [];
  private stream: ReadableStreamDefaultController<Uint8Array> | undefined;
  private settle: { resolve(r: Response | undefined): void; reject(e: unknown): void } | undefined;
  /** Relaying to a sink: it has the head, and takes the body as it comes. */
  private relaying = false;
  /** Links in the deadline list (see Deadlines), while waiting for the head. */
  prev: Exchange | undefined;
  next: Exchange | undefined;
  waiting = false;
  private writing: { rest: Uint8Array; resolve(): void; reject(e: unknown): void } | undefined;
  private bodySent = false;
  private failed = false;
  private pooled = false;
  /** The socket was a pooled one that closed before any byte of an answer. */
  stale = false;

  constructor(
    private readonly request: UpstreamRequest,
    public deadline: number,
    private readonly sink: ResponseSink | undefined,
  ) {
    this.parser = new ResponseParser(request.method, this);
    if (sink)
      sink.control = {
        resume: () => this.conn?.socket?.resume(),
        cancel: () => this.cancel(),
      };
  }

  run(pooled: Connection | undefined, origin: string): Promise<Response | undefined> {
    return new Promise<Response | undefined>((resolve, reject) => {
      this.settle = { resolve, reject };
      deadlines.add(this);
      const { signal } = this.request;
      if (signal?.aborted) return this.fail(signal.reason);
      signal?.addEventListener("abort", () => this.fail(signal.reason), { once: true });
      if (pooled) this.start(pooled, true);
      else
        connect(this.request.origin, origin, this.request.verifyTls).then(
          (conn) => (this.failed ? conn.socket?.end() : this.start(conn, false)),
          (err) => this.fail(err),
        );
    });
  }

  private start(conn: Connection, pooled: boolean): void {
    this.pooled = pooled;
    this.conn = conn;
    conn.exchange = this;
    const { body } = this.request;
    const chunked =
      body !== null && !this.request.headers.some(([n]) => n.toLowerCase() === "content-length");
    let head: string | Buffer;
    try {
      head = requestHead(this.request, chunked);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (pooled && conn.closed) {
      this.stale = true;
      this.fail(new ProtocolError("pooled connection closed"));
      return;
    }
    if (body === null) {
      this.bodySent = true;
      try {
        this.write(head)?.catch((err) => this.fail(err));
      } catch (err) {
        this.fail(err);
      }
    } else void this.sendBody(head, body, chunked).catch((err) => this.fail(err));
  }

  private async sendBody(
    head: string | Buffer,
    body: ReadableStream<Uint8Array>,
    chunked: boolean,
  ): Promise<void> {
    await this.write(head);
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (this.failed) {
          await reader.cancel().catch(() => {});
          return;
        }
        if (done) break;
        if (value.byteLength === 0) continue;
        if (chunked) await this.write(Buffer.from(`${value.byteLength.toString(16)}\r\n`, "latin1"));
        await this.write(value);
        if (chunked) await this.write(CRLF);
        this.progressed();
      }
      if (chunked) await this.write(LAST_CHUNK);
      this.bodySent = true;
      if (this.parser.finished) this.release();
    } catch (err) {
      await reader.cancel().catch(() => {});
      throw err;
    }
  }

  /**
   * Writes all of `data`: at once (undefined), or a promise that settles when the socket has drained
   * the rest. Throws if the socket is gone.
   */
  private write(data: Uint8Array | string): Promise<void> | undefined {
    const socket = this.conn?.socket;
    if (!socket || this.conn?.closed || this.failed) throw new ProtocolError("socket closed");
    const n = socket.write(data);
    // Strings written here are ASCII: one byte per character.
    if (n === (typeof data === "string" ? data.length : data.byteLength)) return undefined;
    if (n < 0) throw new ProtocolError("socket closed");
    const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    return new Promise((resolve, reject) => {
      this.writing = { rest: bytes.subarray(n), resolve, reject };
    });
  }

  drained(): void {
    const w = this.writing;
    const socket = this.conn?.socket;
    if (!w || !socket) return;
    const n = socket.write(w.rest);
    if (n < 0) {
      this.writing = undefined;
      w.reject(new ProtocolError("socket closed"));
    } else if (n === w.rest.byteLength) {
      this.writing = undefined;
      w.resolve();
    } else w.rest = w.rest.subarray(n);
  }

  received(data: Uint8Array): void {
    try {
      this.parser.feed(data);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.settle && this.responseHead) this.answer();
  }

  /** The head is in: answer the client, with the whole body if it came along, else as a stream. */
  private answer(): void {
    const head = this.responseHead as ResponseHead;
    const settle = this.settle as NonNullable<typeof this.settle>;
    this.settle = undefined;
    deadlines.remove(this);
    if (this.sink) {
      const chunks = this.chunks;
      this.chunks = [];
      this.relaying = true;
      settle.resolve(undefined);
      this.sink.head(head, chunks, this.parser.finished);
      return;
    }
    let response: Response;
    try {
      // Appended one by one: measured ≈40 % cheaper than handing Response the pairs.
      const headers = new Headers();
      for (const [name, value] of head.headers) headers.append(name, value);
      const init = { status: head.status, statusText: head.statusText, headers };
      if (this.parser.finished && (this.chunks.length === 0 || hasContentType(head))) {
        // Whole: Bun sends it with its length (a body without a type would be given one, so those stream).
        const body = this.chunks.length === 0 ? null : concat(this.chunks);
        response = new Response(this.request.method === "HEAD" ? null : body, init);
      } else {
        const chunks = this.chunks;
        const socket = this.conn?.socket;
        response = new Response(
          new ReadableStream<Uint8Array>(
            {
              start: (controller) => {
                this.stream = controller;
                for (const chunk of chunks) controller.enqueue(chunk);
                if (this.parser.finished) controller.close();
              },
              pull: () => {
                socket?.resume();
              },
              cancel: () => {
                // The client went away mid-body: the socket is mid-response and cannot be reused.
                this.failed = true;
                this.stream = undefined;
                socket?.terminate();
              },
            },
            STREAM_BUFFER,
          ),
          init,
        );
      }
      this.chunks = [];
    } catch (err) {
      // An answer the Response constructor refuses (a status over 599, a header value it rejects).
      this.failed = true;
      this.conn?.socket?.terminate();
      settle.reject(new ProtocolError(`unusable response: ${(err as Error).message}`));
      return;
    }
    settle.resolve(response);
  }

  /** ResponseEvents: the parser read the head. */
  head(head: ResponseHead): void {
    this.responseHead = head;
  }

  /** ResponseEvents: body bytes. */
  body(chunk: Uint8Array): void {
    // Bun hands each data event its own buffer, so views of it can be kept.
    if (this.relaying) {
      if (!this.sink?.body(chunk)) this.conn?.socket?.pause();
    } else if (this.stream) {
      this.stream.enqueue(chunk);
      if ((this.stream.desiredSize ?? 1) <= 0) this.conn?.socket?.pause();
    } else this.chunks.push(chunk);
  }

  /** ResponseEvents: the response is complete. */
  done(): void {
    if (this.stream) {
      this.stream.close();
      this.stream = undefined;
    }
    // The head and what came with it are handed on in answer(), which also reports a body complete then.
    if (this.relaying) this.sink?.done();
    if (this.bodySent) {
      this.release();
      return;
    }
    // The upstream answered before taking the whole body (a 413, a 401): it may never read the rest,
    // and the socket could wait on it forever. The answer stands; the rest of the body and the socket go
    // (RFC 9112 §9.6).
    this.failed = true;
    const conn = this.conn;
    this.conn = undefined;
    if (conn) {
      conn.exchange = undefined;
      conn.socket?.terminate();
    }
    const writing = this.writing;
    this.writing = undefined;
    writing?.reject(new ProtocolError("the upstream answered before the request body was sent"));
  }

  private release(): void {
    const conn = this.conn;
    if (!conn || this.failed || conn.exchange !== this) return;
    this.conn = undefined;
    // Reading may have been paused for a slow client when the last chunk came: a pooled socket must read.
    conn.socket?.resume();
    if (this.parser.keepAlive && !this.writing) release(conn);
    else {
      conn.exchange = undefined;
      conn.socket?.end();
    }
  }

  socketClosed(error?: Error): void {
    if (this.failed) return;
    try {
      this.parser.end();
    } catch (err) {
      this.fail(error ?? err);
      return;
    }
    if (this.settle && this.responseHead) this.answer();
  }

  /**
   * A slow upload is not a silent upstream: while the request body moves, the time the upstream has
   * to answer counts from the last byte written.
   */
  private progressed(): void {
    if (!this.waiting) return;
    deadlines.remove(this);
    this.deadline = Date.now() + this.request.timeoutMs;
    deadlines.add(this);
  }

  timedOut(): void {
    this.fail(new UpstreamTimeout(`no answer within ${this.request.timeoutMs} ms`));
  }

  /** Ends the exchange with an error: to the caller if not answered yet, else to the body stream. */
  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    deadlines.remove(this);
    // A pooled socket that failed before any answer was most likely closed by the upstream while idle.
    this.stale =
      this.pooled &&
      !this.parser.started &&
      !(err instanceof UpstreamTimeout) &&
      !this.request.signal?.aborted;
    const conn = this.conn;
    if (conn) {
      conn.exchange = undefined;
      if (!conn.closed) conn.socket?.terminate();
    }
    this.writing?.reject(err);
    this.writing = undefined;
    if (this.settle) {
      this.settle.reject(err);
      this.settle = undefined;
    } else if (this.stream) {
      this.stream.error(err);
      this.stream = undefined;
    } else if (this.relaying) {
      this.relaying = false;
      this.sink?.error(err);
    }
  }

  /** The client went away: the exchange and its socket are dropped, and nobody is told. */
  private cancel(): void {
    this.relaying = false;
    this.fail(new ProtocolError("the client went away"));
  }
}

/** The response body buffered for a slow client before the upstream socket is paused. */
const STREAM_BUFFER: QueuingStrategy<Uint8Array> = {
  highWaterMark: 256 * 1024,
  size: (c) => (c as Uint8Array).byteLength,
};
/**
 * The exchanges waiting for an answer, in deadline order, under one timer: a timer per request cost ≈7 %
 * of the proxy's throughput. Requests share one timeout, so a new one almost always goes at the tail;
 * answered ones unlink in O(1).
 */
class Deadlines {
  private head: Exchange | undefined;
  private tail: Exchange | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private armedFor = Number.POSITIVE_INFINITY;

  add(e: Exchange): void {
    let after = this.tail;
    while (after && after.deadline > e.deadline) after = after.prev;
    e.prev = after;
    e.next = after ? after.next : this.head;
    if (e.next) e.next.prev = e;
    else this.tail = e;
    if (after) after.next = e;
    else this.head = e;
    e.waiting = true;
    if (e.deadline < this.armedFor) this.arm(e.deadline);
  }

  remove(e: Exchange): void {
    if (!e.waiting) return;
    e.waiting = false;
    if (e.prev) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = e.next = undefined;
    // The timer stays armed; when it fires it re-arms for whatever is first then.
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = setTimeout(() => this.expire(), Math.max(at - Date.now(), 0));
    this.timer.unref?.();
  }

  private expire(): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = Date.now();
    while (this.head && this.head.deadline <= now) {
      const e = this.head;
      this.remove(e);
      e.timedOut();
    }
    if (this.head) this.arm(this.head.deadline);
  }
}

const deadlines = new Deadlines();

const CRLF = Buffer.from("\r\n");
const LAST_CHUNK = Buffer.from("0\r\n\r\n");

const hasContentType = (head: ResponseHead) => head.headers.some(([n]) => n === "content-type");

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  return Buffer.concat(chunks);
}

/** Closes every idle pooled socket (tests, shutdown). */
export function closeIdleConnections(): void {
  for (const pool of idle.values()) for (const conn of pool.splice(0)) conn.socket?.end();
}
