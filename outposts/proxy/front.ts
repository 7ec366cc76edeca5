/**
 * The proxy outpost's plain-HTTP listener, on the sockets themselves (`Bun.listen`). The common request —
 * a head that is plainly HTTP/1.1, in origin form, with no body or one framed by a single plain
 * Content-Length — is read here and answered here: the handler decides (handler.ts), and a proxied answer
 * is relayed from the upstream socket onto the client's as it arrives (http1.ts `relayUpstream`), with no
 * Request, Response or stream in between. That measured 0.78–0.84× the CPU per proxied request of
 * `Bun.serve` with the same client (tests/bench/proxy.bench.ts, "Bun socket front" against "Bun socket
 * proxy"). A body is the next Content-Length bytes, handed on as a stream that pauses the client's socket
 * while it is full; a request without one makes no stream. A body its answer did not take (the handler
 * answered, or the upstream did before reading it all) is read and dropped when at most DISCARD_BYTES of
 * it are still to come when the answer starts; past that the answer says `connection: close`, and the
 * connection closes once it has left (reading on until the client closes, so that its unread body does
 * not turn the close into a reset that could destroy the answer). A failed upstream's 502 or 504 closes a
 * connection whose body is not all in.
 *
 * Everything else — Transfer-Encoding (a chunked body), an upgrade, `Expect`, HTTP/1.0, CONNECT, `*` or
 * absolute-form targets, a Content-Length this reader is not sure of (repeated, a list, a sign, a leading
 * zero, past 2^53), malformed or oversized heads — is not parsed further: from that request on, the
 * connection is piped byte for byte to the full server (`Bun.serve`, on loopback), which answers it exactly
 * as before: websockets, chunked uploads, 100-continue, and Bun's own 400/431 for bad input. So this reader
 * never has to agree with another parser about where a request ends: it only takes requests whose end
 * their head states beyond doubt. The full server learns the client's address from the port the pipe
 * connects from.
 *
 * A connection from a trusted proxy (`listen.trusted_proxy_cidrs`) may begin with a PROXY protocol
 * header (outposts/runtime/proxy-protocol.ts), which then names the client for everything after it,
 * piped requests included. HTTPS cannot take one: `Bun.serve` starts the TLS handshake on the first byte.
 */
import type { Socket, SocketHandler, TCPSocketListener } from "bun";
import type { Logger } from "../../shared/log.ts";
import type { TrustedProxies } from "../../shared/networks.ts";
import { readProxyHeader } from "../runtime/proxy-protocol.ts";
import { type IdentityAnswer, identityResponse } from "./forward.ts";
import type { Handled } from "./handler.ts";
import { type ResponseSink, relayUpstream } from "./http1.ts";
import { fieldValue, headerName, type ResponseHead, TOKEN } from "./http1-response.ts";
import { errorPage } from "./pages.ts";
import { HeaderList, type ProxyRequest } from "./request.ts";
import type { UpstreamCall, UpstreamOutcome } from "./upstream.ts";
import { upstreamFailure, upstreamRequest } from "./upstream.ts";

/** A head longer than this is not read here (the full server takes it, and refuses it past its limit). */
const MAX_HEAD_BYTES = 16 * 1024;
const MAX_HEADERS = 100;
/** Pipelined requests answered within one call before the rest wait for a microtask. */
const MAX_DEPTH = 16;
/** Pipelined requests buffered while one is answered; past this the client is not read until it is. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/**
 * A request body's bytes received and not yet taken by the upstream; past this the client is not read
 * until they are (the same as the upstream client buffers of a response, http1.ts).
 */
const BODY_BUFFER: QueuingStrategy<Uint8Array> = {
  highWaterMark: 256 * 1024,
  size: (chunk) => (chunk as Uint8Array).byteLength,
};
/**
 * A body its answer did not take, still to come when the answer starts: read and dropped, so that the
 * connection serves on, if this much or less (a form or an API call; cheaper to read than a new
 * connection); more (an upload refused) is not waited for: the answer closes the connection.
 */
const DISCARD_BYTES = 64 * 1024;
const HEAD_END = Buffer.from("\r\n\r\n");
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\/[!-~]*) HTTP\/1\.1$/;
/** Digits, no sign, no leading zero: a Content-Length every parser reads alike (≤ 2^53 checked apart). */
const LENGTH = /^(?:0|[1-9][0-9]{0,15})$/;
/** Field values: visible characters, spaces, tabs and obs-text; no other control character. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const HOST = /^[A-Za-z0-9._~%!$&'()*+,;=:[\]-]+$/;
const LAST_CHUNK = Buffer.from("0\r\n\r\n");
/**
 * Reason phrases for the answers the outpost makes itself (an upstream's own phrase is passed on; the
 * phrase is optional in HTTP/1.1). Not node:http's table: loading that module costs ≈1 MB of memory.
 */
const REASONS: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  413: "Content Too Large",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};
const CRLF = Buffer.from("\r\n");

export interface FrontOptions {
  hostname: string;
  port: number;
  /**
   * The full server, on loopback: it takes every connection from the first request not read here.
   * Asked for on the first such connection (so an outpost that never needs it never starts it).
   */
  fallback(): { hostname: string; port: number };
  /** The client's address for a pipe from this local port (for the full server's X-Forwarded-For). */
  clients: Map<number, string>;
  /** At once when it can: the answer then goes out within this socket's callback (see serve). */
  decide(request: ProxyRequest, clientIp: () => string): Handled | Promise<Handled>;
  proxied(call: UpstreamCall, outcome: UpstreamOutcome, detail?: string): void;
  upstreamTimeoutMs: number;
  idleTimeoutSeconds: number;
  /** Peers whose connections may begin with a PROXY protocol header (optional from them). */
  trustedProxies?: TrustedProxies;
  log: Logger;
}

/** One request head read here. */
interface Head {
  method: string;
  target: string;
  host: string;
  headers: [string, string][];
  /** The body's length (0 for none). */
  length: number;
  /** The connection ends after this answer: the client asked, or the body's rest is not waited for. */
  close: boolean;
}

/** A request body coming off the client's socket. */
interface Body {
  /** Bytes of it not received yet. */
  left: number;
  /** Its stream while the request may read it; undefined once the rest is dropped as it comes. */
  stream: ReadableStreamDefaultController<Uint8Array> | undefined;
  /** The client's socket is paused until the stream is read. */
  paused: boolean;
}

interface Client {
  socket: Socket<Client>;
  /** The client's address: the peer's, or the one its PROXY header names. */
  ip: string;
  /** From a trusted proxy, and nothing read yet: the first bytes may be a PROXY header. */
  preface: boolean;
  /** Bytes received and not yet taken: the next requests (or the rest of one head). */
  input: Buffer | undefined;
  /** The body still coming, of the request being answered or of one answered without it. */
  body: Body | undefined;
  busy: boolean;
  /** Not read while too much is buffered behind the request being answered. */
  paused: boolean;
  closed: boolean;
  /** Output waiting for the socket to drain. */
  out: Uint8Array[];
  /** Run once `out` has drained (the relay resumes reading its upstream). */
  drained: (() => void) | undefined;
  /** End the connection once `out` has drained. */
  ending: boolean;
  /** The exchange being relayed (cancelled if the client goes away). */
  relay: ResponseSink | undefined;
  pipe: Pipe | undefined;
}

interface Pipe {
  client: Client;
  socket: Socket<Pipe> | undefined;
  /** Client bytes waiting for the pipe to open or drain. */
  waiting: Uint8Array[];
  closed: boolean;
}

export interface Front {
  port: number;
  stop(): void;
}

export function startFront(options: FrontOptions): Front {
  const clients = new Set<Client>();
  /** Requests begun and not yet returned from, on the current call stack. */
  let depth = 0;

  const clientHandlers: SocketHandler<Client> = {
    open(socket) {
      // Undefined (despite its type) when the peer is gone before this runs: seen for HAProxy's health
      // checks, a PROXY header and a close at once. That threw in `trusts`, and `gone` then found no
      // client and took the process down.
      const peer = socket.remoteAddress as string | undefined;
      const client: Client = {
        socket,
        ip: peer ?? "",
        preface: peer !== undefined && (options.trustedProxies?.trusts(peer) ?? false),
        input: undefined,
        body: undefined,
        busy: false,
        paused: false,
        closed: false,
        out: [],
        drained: undefined,
        ending: false,
        relay: undefined,
        pipe: undefined,
      };
      socket.data = client;
      clients.add(client);
      socket.timeout(options.idleTimeoutSeconds);
    },
    data(socket, bytes) {
      const client = socket.data;
      const data = client.preface ? proxyPreface(client, bytes) : bytes;
      if (!data) return;
      if (client.pipe) return toPipe(client.pipe, data);
      // Closing: nothing more is answered, and what comes (a body's rest) is read only to be dropped.
      if (client.ending) return;
      const rest = client.body ? toBody(client, client.body, data) : data;
      if (!rest) return;
      client.input = client.input ? Buffer.concat([client.input, rest]) : rest;
      if (client.busy) {
        if (client.input.length > MAX_BUFFERED_BYTES) {
          client.paused = true;
          socket.pause();
        }
        return;
      }
      next(client);
    },
    drain(socket) {
      flush(socket.data);
    },
    timeout(socket) {
      const client = socket.data;
      // Idle between requests: closed. Busy (a slow upstream or a slow stream): the deadlines are the
      // relay's; piped: the full server's own idle timeout ends it. Closing, with a client that neither
      // sends nor closes: reset.
      if (client.busy || client.pipe) socket.timeout(options.idleTimeoutSeconds);
      else if (client.ending) socket.terminate();
      else socket.end();
    },
    close(socket) {
      gone(socket.data);
    },
    // A callback here threw (the full server could not be started, say). Bun reports that here and
    // leaves the socket open, so it is ended here: else the client would wait on it for good.
    error(socket, err) {
      options.log.error("connection failed", { code: "PX0006FrontSocketFailed", error: err.message });
      socket.terminate();
      gone(socket.data);
    },
  };

  /**
   * The first bytes from a trusted proxy: a PROXY header, if they begin with one, is taken off and names
   * the client. The bytes after it; undefined while the header is incomplete, or when it is malformed
   * (the connection is ended: nothing after it can be trusted to be where it seems).
   */
  function proxyPreface(client: Client, data: Buffer): Buffer | undefined {
    const input = client.input ? Buffer.concat([client.input, data]) : data;
    const read = readProxyHeader(input);
    if (read.kind === "incomplete") {
      client.input = input;
      return undefined;
    }
    client.preface = false;
    client.input = undefined;
    if (read.kind === "none") return input;
    if (read.kind === "invalid") {
      options.log.warn("PROXY protocol header refused", {
        code: "PX0008ProxyHeaderInvalid",
        peer: client.ip,
        reason: read.reason,
      });
      client.socket.end();
      return undefined;
    }
    if (read.source) client.ip = read.source;
    return input.length > read.length ? input.subarray(read.length) : undefined;
  }

  /** The connection is closed (`client` is undefined, despite its type, if `open` threw). */
  function gone(client: Client | undefined): void {
    if (!client || client.closed) return;
    client.closed = true;
    clients.delete(client);
    client.out = [];
    client.relay?.control?.cancel();
    client.relay = undefined;
    // The upstream may be waiting on the body's next bytes: they will not come.
    client.body?.stream?.error(new Error("the client went away"));
    client.body = undefined;
    if (client.pipe) endPipe(client.pipe);
  }

  /** Takes the next request in `input`, if its head is complete. */
  function next(client: Client): void {
    const input = client.input;
    if (!input || client.closed) return;
    const end = input.indexOf(HEAD_END);
    if (end < 0) {
      if (input.length > MAX_HEAD_BYTES) startPipe(client);
      return;
    }
    const head = end <= MAX_HEAD_BYTES ? readHead(input.toString("latin1", 0, end)) : undefined;
    if (!head) {
      startPipe(client);
      return;
    }
    const rest = end + 4 === input.length ? undefined : input.subarray(end + 4);
    let body: ReadableStream<Uint8Array> | null = null;
    if (head.length > 0) {
      body = requestBody(client, head.length);
      client.input = rest && toBody(client, client.body as Body, rest);
    } else client.input = rest;
    client.busy = true;
    depth++;
    try {
      void serve(client, head, body).catch((err: unknown) => {
        options.log.error("request failed", { code: "PX0004FrontFailed", error: (err as Error).message });
        client.socket.terminate();
      });
    } finally {
      depth--;
    }
  }

  /**
   * The body of the request just read: the next `length` bytes, from `client.input` and the data that
   * follows, as a stream that pauses the client's socket while it is full. Cancelled (the upstream
   * stopped reading), its rest is dropped as it comes.
   */
  function requestBody(client: Client, length: number): ReadableStream<Uint8Array> {
    const body: Body = { left: length, stream: undefined, paused: false };
    client.body = body;
    return new ReadableStream<Uint8Array>(
      {
        start(controller) {
          body.stream = controller;
        },
        pull() {
          if (!body.paused) return;
          body.paused = false;
          client.socket.resume();
        },
        cancel() {
          dropBody(client, body);
        },
      },
      BODY_BUFFER,
    );
  }

  /** The body's bytes at the start of `data` to its stream, or dropped; the bytes after the body. */
  function toBody(client: Client, body: Body, data: Buffer): Buffer | undefined {
    const n = Math.min(body.left, data.byteLength);
    body.left -= n;
    const stream = body.stream;
    if (stream) {
      stream.enqueue(n === data.byteLength ? data : data.subarray(0, n));
      if (body.left === 0) {
        stream.close();
        body.stream = undefined;
      } else if ((stream.desiredSize ?? 1) <= 0) {
        body.paused = true;
        client.socket.pause();
      }
    }
    if (body.left === 0) client.body = undefined;
    return n === data.byteLength ? undefined : data.subarray(n);
  }

  /** Nobody will read the rest of the body: whatever is left of it is read and dropped as it comes. */
  function dropBody(client: Client, body: Body): void {
    const stream = body.stream;
    body.stream = undefined;
    // An upstream still reading it (one that answered before the end) must not wait for it.
    stream?.error(new Error("the request was answered"));
    if (body.paused) {
      body.paused = false;
      client.socket.resume();
    }
  }

  /**
   * An answer starts while its request's body is still coming: past DISCARD_BYTES to come, it says
   * `connection: close` (see `finished`).
   */
  function closeIfUnread(client: Client, head: Head): void {
    if (client.body && client.body.left > DISCARD_BYTES) head.close = true;
  }

  async function serve(client: Client, head: Head, body: ReadableStream<Uint8Array> | null): Promise<void> {
    const request: ProxyRequest = {
      method: head.method,
      url: `http://${head.host}${head.target}`,
      headers: new HeaderList(head.headers),
      body,
    };
    // Written within the client's data callback when the decision is at once (a cached session):
    // a write from a later microtask measured ≈20 % slower for the whole request.
    const decided = options.decide(request, () => client.ip);
    const handled = decided instanceof Promise ? await decided : decided;
    if (client.closed) return;
    if (handled.kind === "identity") {
      writeIdentity(client, handled, head);
      finished(client, head);
      return;
    }
    if (handled.kind !== "upstream") {
      // (A websocket is never decided here: upgrades go to the full server.)
      const response =
        handled.kind === "response"
          ? handled.response
          : errorPage(400, "Bad request", "The websocket upgrade failed.");
      const written = respond(client, response, head);
      if (written) await written;
      return finished(client, head);
    }
    const sink = new ClientSink(client, head, () => finished(client, head));
    client.relay = sink;
    try {
      await relayUpstream(upstreamRequest(request, handled, options.upstreamTimeoutMs), sink);
      options.proxied(handled, "proxied");
    } catch (err) {
      client.relay = undefined;
      if (client.closed) return;
      const failure = upstreamFailure(err, handled, options.upstreamTimeoutMs);
      options.proxied(handled, failure.outcome, failure.detail);
      // A body not all in is not waited for: the upstream may have failed because the client stalled.
      if (client.body) head.close = true;
      const written = respond(client, failure.response, head);
      if (written) await written;
      finished(client, head);
    }
  }

  /**
   * A request is answered: close if asked, else go on to the next one once its answer has left (a
   * client that does not read its answers is not read either) and the rest of its body, if any, has been
   * read and dropped (`next` finds no input before).
   */
  function finished(client: Client, head: Head): void {
    client.relay = undefined;
    if (client.closed) return;
    if (client.body) dropBody(client, client.body);
    if (head.close) {
      client.busy = false;
      endClient(client);
    } else if (client.out.length > 0) client.drained = () => proceed(client);
    else proceed(client);
  }

  function proceed(client: Client): void {
    client.busy = false;
    if (client.paused) {
      client.paused = false;
      client.socket.resume();
    }
    // Pipelined requests answered at once would otherwise nest one call deeper each.
    if (depth > MAX_DEPTH) queueMicrotask(() => next(client));
    else next(client);
  }

  function endClient(client: Client): void {
    client.ending = true;
    if (client.out.length === 0) closeClient(client);
  }

  /**
   * The answers have left. With a body's rest still coming, only the sending side is closed and the
   * socket reads on (dropping what comes) until the client closes or the idle timeout: closing a socket
   * with unread bytes resets the connection, and the client may lose the answer with it.
   */
  function closeClient(client: Client): void {
    if (client.body) {
      client.socket.shutdown();
      client.socket.resume();
    } else client.socket.end();
  }

  /** Writes what the socket takes now and queues the rest; false if anything is queued. */
  function send(client: Client, data: Uint8Array): boolean {
    if (client.closed) return true;
    if (client.out.length > 0) {
      client.out.push(data);
      return false;
    }
    const n = client.socket.write(data);
    if (n === data.byteLength) return true;
    client.out.push(n > 0 ? data.subarray(n) : data);
    return false;
  }

  function flush(client: Client): void {
    while (client.out.length > 0) {
      const data = client.out[0] as Uint8Array;
      const n = client.socket.write(data);
      if (n < data.byteLength) {
        if (n > 0) client.out[0] = data.subarray(n);
        return;
      }
      client.out.shift();
    }
    if (client.ending) return void closeClient(client);
    const drained = client.drained;
    client.drained = undefined;
    drained?.();
  }

  /**
   * A Response of the outpost's own (a page, a redirect, a forward-auth answer) onto the socket: at once
   * when it has no body, else once the body is read.
   */
  function respond(client: Client, response: Response, head: Head): Promise<void> | undefined {
    if (response.body === null) {
      writeResponse(client, response, head, undefined);
      return undefined;
    }
    return response.arrayBuffer().then((body) => writeResponse(client, response, head, new Uint8Array(body)));
  }

  function writeResponse(client: Client, response: Response, head: Head, body: Uint8Array | undefined): void {
    if (client.closed) return;
    closeIfUnread(client, head);
    const status = response.status;
    let text = statusLine(status, response.statusText);
    let cookies = false;
    response.headers.forEach((value, name) => {
      if (name === "set-cookie") cookies = true;
      else if (name !== "content-length" && name !== "connection" && name !== "transfer-encoding")
        text += `${name}: ${value}\r\n`;
    });
    if (cookies) for (const cookie of response.headers.getSetCookie()) text += `set-cookie: ${cookie}\r\n`;
    if (!response.headers.has("date")) text += `date: ${httpDate()}\r\n`;
    if (status !== 204 && status !== 304) text += `content-length: ${body?.byteLength ?? 0}\r\n`;
    if (head.close) text += "connection: close\r\n";
    text += "\r\n";
    const bytes = Buffer.from(text, "latin1");
    send(client, body && head.method !== "HEAD" ? Buffer.concat([bytes, body]) : bytes);
  }

  /** Forward auth's yes: the identity's prepared header lines as they are. */
  function writeIdentity(client: Client, answer: IdentityAnswer, head: Head): void {
    const { identity, agent } = answer;
    // An identity header named User-Agent is replaced by the client's: the general way does that.
    if (agent && identity.names.has("user-agent")) {
      writeResponse(client, identityResponse(answer), head, undefined);
      return;
    }
    closeIfUnread(client, head);
    let text = `HTTP/1.1 200 OK\r\n${identity.lines.text}`;
    if (agent) text += `user-agent: ${agent}\r\n`;
    text += `date: ${httpDate()}\r\ncontent-length: 0\r\n`;
    if (head.close) text += "connection: close\r\n";
    send(client, Buffer.from(`${text}\r\n`, "latin1"));
  }

  /** An upstream's response, relayed onto the client's socket as it arrives. */
  class ClientSink implements ResponseSink {
    control?: ResponseSink["control"];
    private chunked = false;

    constructor(
      private readonly client: Client,
      private readonly request: Head,
      private readonly onDone: () => void,
    ) {}

    head(head: ResponseHead, body: Uint8Array[], complete: boolean): void {
      closeIfUnread(this.client, this.request);
      if (head.raw && !this.request.close) {
        // The upstream's own bytes, unchanged, in one write when the body came in the same read.
        send(this.client, joined(head.raw, body));
        if (complete) this.onDone();
        return;
      }
      const status = head.status;
      let text = statusLine(status, head.statusText);
      let length = false;
      for (const [name, value] of head.headers) {
        if (name === "content-length") length = true;
        text += `${name}: ${value}\r\n`;
      }
      const bodyless = this.request.method === "HEAD" || status === 204 || status === 304;
      // A body without a length (chunked or until close upstream) goes to the client chunked.
      this.chunked = !bodyless && !length;
      if (this.chunked) text += "transfer-encoding: chunked\r\n";
      if (this.request.close) text += "connection: close\r\n";
      text += "\r\n";
      // Header strings hold one byte per character (the parser read them as latin1).
      const parts: Uint8Array[] = [Buffer.from(text, "latin1")];
      for (const chunk of body) this.frame(parts, chunk);
      if (complete && this.chunked) parts.push(LAST_CHUNK);
      send(this.client, parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts));
      if (complete) this.onDone();
    }

    body(chunk: Uint8Array): boolean {
      const parts: Uint8Array[] = [];
      this.frame(parts, chunk);
      let written = true;
      for (const part of parts) written = send(this.client, part) && written;
      if (!written) this.client.drained = () => this.control?.resume();
      return written;
    }

    done(): void {
      if (this.chunked) send(this.client, LAST_CHUNK);
      this.onDone();
    }

    error(): void {
      // The body is cut short: the client must not take what it got for the whole answer.
      this.client.relay = undefined;
      this.client.socket.terminate();
    }

    private frame(parts: Uint8Array[], chunk: Uint8Array): void {
      if (chunk.byteLength === 0) return;
      if (!this.chunked) {
        parts.push(chunk);
        return;
      }
      parts.push(Buffer.from(`${chunk.byteLength.toString(16)}\r\n`, "latin1"), chunk, CRLF);
    }
  }

  const pipeHandlers: SocketHandler<Pipe> = {
    open(socket) {
      const pipe = socket.data;
      // The client left while this connected.
      if (pipe.closed) {
        socket.end();
        return;
      }
      pipe.socket = socket;
      options.clients.set(socket.localPort, pipe.client.ip);
      const waiting = pipe.waiting;
      pipe.waiting = [];
      for (const data of waiting) toPipe(pipe, data);
    },
    data(socket, data) {
      const client = socket.data.client;
      if (!send(client, data)) {
        socket.pause();
        client.drained = () => socket.resume();
      }
    },
    drain(socket) {
      const pipe = socket.data;
      const waiting = pipe.waiting;
      pipe.waiting = [];
      for (const data of waiting) toPipe(pipe, data);
      if (pipe.waiting.length === 0) pipe.client.socket.resume();
    },
    close(socket) {
      endPipe(socket.data);
    },
    // As for the client's socket: a callback threw, and the socket is still open.
    error(socket, err) {
      options.log.error("pipe failed", { code: "PX0007PipeSocketFailed", error: err.message });
      endPipe(socket.data);
      socket.terminate();
    },
    connectError(socket) {
      endPipe(socket.data);
    },
  };

  /** From the first request not read here on, the connection belongs to the full server. */
  function startPipe(client: Client): void {
    const pipe: Pipe = { client, socket: undefined, waiting: [], closed: false };
    client.pipe = pipe;
    if (client.input) pipe.waiting.push(client.input);
    client.input = undefined;
    client.busy = false;
    client.socket.resume();
    const { hostname, port } = options.fallback();
    Bun.connect<Pipe>({
      hostname,
      port,
      data: pipe,
      socket: pipeHandlers,
    }).catch((err: unknown) => {
      options.log.error("the outpost's own server cannot be reached", {
        code: "PX0005PipeFailed",
        error: (err as Error).message,
      });
      endPipe(pipe);
    });
  }

  function toPipe(pipe: Pipe, data: Uint8Array): void {
    const socket = pipe.socket;
    if (!socket || pipe.waiting.length > 0) {
      pipe.waiting.push(Buffer.from(data));
      if (socket) pipe.client.socket.pause();
      return;
    }
    const n = socket.write(data);
    if (n < data.byteLength) {
      pipe.waiting.push(Buffer.from(n > 0 ? data.subarray(n) : data));
      pipe.client.socket.pause();
    }
  }

  function endPipe(pipe: Pipe): void {
    if (pipe.closed) return;
    pipe.closed = true;
    if (pipe.socket) {
      options.clients.delete(pipe.socket.localPort);
      pipe.socket.end();
    }
    if (!pipe.client.closed) endClient(pipe.client);
  }

  const listener: TCPSocketListener<Client> = Bun.listen<Client>({
    hostname: options.hostname,
    port: options.port,
    socket: clientHandlers,
    data: undefined as unknown as Client,
  });

  return {
    port: listener.port,
    stop() {
      listener.stop(true);
      for (const client of clients) client.socket.terminate();
    },
  };
}

/**
 * A request head this reader answers itself, or undefined for the full server: any method but CONNECT,
 * in origin form, HTTP/1.1, CRLF lines, token names, no Transfer-Encoding, at most one Content-Length of
 * plain digits up to 2^53 − 1, no Upgrade or Expect, exactly one plain Host.
 */
export function readHead(text: string): Head | undefined {
  let eol = text.indexOf("\r\n");
  if (eol < 0) eol = text.length;
  const match = REQUEST_LINE.exec(text.slice(0, eol));
  if (!match) return undefined;
  const method = match[1] as string;
  if (method === "CONNECT") return undefined;
  const headers: [string, string][] = [];
  let host: string | undefined;
  let length: number | undefined;
  let close = false;
  for (let at = eol + 2; at < text.length; at = eol + 2) {
    eol = text.indexOf("\r\n", at);
    if (eol < 0) eol = text.length;
    const colon = text.indexOf(":", at);
    if (colon <= at || colon > eol || headers.length === MAX_HEADERS) return undefined;
    const name = headerName(text.slice(at, colon));
    const value = fieldValue(text, colon + 1, eol);
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) return undefined;
    switch (name) {
      case "host":
        if (host !== undefined || !HOST.test(value)) return undefined;
        host = value;
        break;
      case "content-length":
        if (length !== undefined || !LENGTH.test(value)) return undefined;
        length = Number(value);
        if (length > Number.MAX_SAFE_INTEGER) return undefined;
        break;
      case "transfer-encoding":
      case "upgrade":
      case "expect":
        return undefined;
      case "connection":
        for (const token of value.toLowerCase().split(",")) {
          const t = token.trim();
          if (t === "close") close = true;
          else if (t === "upgrade") return undefined;
        }
        break;
    }
    headers.push([name, value]);
  }
  if (host === undefined) return undefined;
  return { method, target: match[2] as string, host, headers, length: length ?? 0, close };
}

/** The status line, with the given reason phrase or else a known one (it may be empty). */
const statusLine = (status: number, reason: string) =>
  `HTTP/1.1 ${status} ${reason || (REASONS[status] ?? "")}\r\n`;

/** `first` and `rest` as one buffer: a view of them when they lie one after another in one buffer. */
function joined(first: Uint8Array, rest: Uint8Array[]): Uint8Array {
  if (rest.length === 0) return first;
  const next = rest[0] as Uint8Array;
  if (
    rest.length === 1 &&
    next.buffer === first.buffer &&
    next.byteOffset === first.byteOffset + first.byteLength
  )
    return new Uint8Array(first.buffer, first.byteOffset, first.byteLength + next.byteLength);
  return Buffer.concat([first, ...rest]);
}

let dateSecond = 0;
let dateText = "";

/** The Date header's value, made once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}
