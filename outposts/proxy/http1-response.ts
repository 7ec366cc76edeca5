/**
 * An HTTP/1.1 response read off an upstream socket (RFC 9112), incrementally: the head (interim 1xx
 * answers skipped), then the body as the framing says — none, Content-Length, chunked (decoded, trailers
 * dropped) or until the connection closes. Body bytes are handed on as views of what arrived, never
 * gathered. Anything that could let one response bleed into the next (conflicting lengths, a bad chunk
 * size, folded or malformed header lines, an oversized head) is a ProtocolError, and the socket is not
 * reused.
 */

/** An upstream head larger than this is refused (nginx's default large_client_header_buffers is 32 KiB). */
export const MAX_HEAD_BYTES = 64 * 1024;
/** A chunk-size line (with extensions) or trailer line longer than this is refused. */
const MAX_LINE_BYTES = 8 * 1024;

export class ProtocolError extends Error {}

export interface ResponseHead {
  status: number;
  statusText: string;
  /** The end-to-end headers, in order, names lower-cased; hop-by-hop ones and framing removed. */
  headers: [string, string][];
  /**
   * The head's bytes as the upstream sent them, when they can go on to a client unchanged: HTTP/1.1,
   * framed by Content-Length (or without a body), and nothing hop-by-hop in them.
   */
  raw?: Uint8Array;
}

export interface ResponseEvents {
  head(head: ResponseHead): void;
  body(chunk: Uint8Array): void;
  done(): void;
}

enum State {
  Head,
  Length,
  Close,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailer,
  Done,
}

const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([^\r\n]*))?$/;
/** A header name (RFC 9110 token). */
export const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const DIGITS = /^\d{1,15}$/;
const HEX = /^[0-9A-Fa-f]{1,12}$/;
/** Response headers that describe this connection, not the response (RFC 9110 §7.6.1). */
const HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "trailer",
]);

export class ResponseParser {
  private state = State.Head;
  /** Unconsumed bytes of an incomplete head or line. */
  private pending: Buffer | undefined;
  /** Body bytes still due in the current Content-Length body or chunk. */
  private remaining = 0;
  private reusable = false;
  private received = false;

  constructor(
    private readonly method: string,
    private readonly events: ResponseEvents,
  ) {}

  get finished(): boolean {
    return this.state === State.Done;
  }

  /** Whether the socket may be reused: the response ended cleanly and nothing followed it. */
  get keepAlive(): boolean {
    return this.state === State.Done && this.reusable;
  }

  /** Takes the next bytes from the socket. Throws ProtocolError on a malformed response. */
  feed(data: Uint8Array): void {
    this.received = true;
    let buf = toBuffer(data);
    if (this.pending) {
      buf = Buffer.concat([this.pending, buf]);
      this.pending = undefined;
    }
    let at = 0;
    while (at < buf.length) {
      switch (this.state) {
        case State.Head: {
          const end = buf.indexOf(HEAD_END, at);
          if (end < 0 || end - at > MAX_HEAD_BYTES) {
            if (buf.length - at > MAX_HEAD_BYTES || end >= 0)
              throw new ProtocolError(`response head over ${MAX_HEAD_BYTES} bytes`);
            this.pending = buf.subarray(at);
            return;
          }
          this.readHead(buf.toString("latin1", at, end), buf, at, end + 4);
          at = end + 4;
          break;
        }
        case State.Length:
        case State.ChunkData: {
          const n = Math.min(this.remaining, buf.length - at);
          this.events.body(buf.subarray(at, at + n));
          this.remaining -= n;
          at += n;
          if (this.remaining === 0) {
            if (this.state === State.Length) this.finish();
            else this.state = State.ChunkEnd;
          }
          break;
        }
        case State.Close:
          this.events.body(at === 0 ? buf : buf.subarray(at));
          at = buf.length;
          break;
        case State.ChunkEnd:
          if (buf.length - at < 2) {
            this.pending = buf.subarray(at);
            return;
          }
          if (buf[at] !== 13 || buf[at + 1] !== 10)
            throw new ProtocolError("chunk data longer than its size");
          at += 2;
          this.state = State.ChunkSize;
          break;
        case State.ChunkSize:
        case State.Trailer: {
          const eol = buf.indexOf(CRLF, at);
          if (eol < 0 || eol - at > MAX_LINE_BYTES) {
            if (buf.length - at > MAX_LINE_BYTES || eol >= 0)
              throw new ProtocolError(`chunk line over ${MAX_LINE_BYTES} bytes`);
            this.pending = buf.subarray(at);
            return;
          }
          const line = buf.toString("latin1", at, eol);
          at = eol + 2;
          if (this.state === State.Trailer) {
            if (line === "") this.finish();
            break;
          }
          const size = line.split(";", 1)[0]?.trim() ?? "";
          if (!HEX.test(size)) throw new ProtocolError(`bad chunk size ${JSON.stringify(line.slice(0, 40))}`);
          this.remaining = Number.parseInt(size, 16);
          this.state = this.remaining === 0 ? State.Trailer : State.ChunkData;
          break;
        }
        case State.Done:
          // Bytes after a complete response: the upstream is out of step; never reuse the socket.
          this.reusable = false;
          return;
      }
    }
  }

  /**
   * The socket closed. Ends a body read until close; anything else unfinished is a ProtocolError
   * (a truncated response must not look complete to the client).
   */
  end(): void {
    if (this.state === State.Close) {
      this.finish();
      return;
    }
    if (this.state !== State.Done)
      throw new ProtocolError(
        this.state === State.Head ? "connection closed before a response" : "connection closed mid-body",
      );
  }

  /** Whether any byte of a response has arrived (a request on a stale socket may be retried if not). */
  get started(): boolean {
    return this.received;
  }

  private finish(): void {
    this.state = State.Done;
    this.events.done();
  }

  private readHead(text: string, buf: Buffer, start: number, end: number): void {
    let eol = text.indexOf("\r\n");
    if (eol < 0) eol = text.length;
    const statusLine = text.slice(0, eol);
    const status = STATUS_LINE.exec(statusLine);
    if (!status) throw new ProtocolError(`bad status line ${JSON.stringify(statusLine.slice(0, 60))}`);
    const code = Number(status[2]);
    if (code === 101) throw new ProtocolError("101 Switching Protocols to a request that asked for none");
    // 100 Continue, 103 Early Hints…: interim answers, the final one follows.
    if (code < 200) return;
    const headers: [string, string][] = [];
    let connection: string[] | undefined;
    let length: string | undefined;
    let transferEncoding: string | undefined;
    let hop = false;
    for (let at = eol + 2; at < text.length; at = eol + 2) {
      eol = text.indexOf("\r\n", at);
      if (eol < 0) eol = text.length;
      const colon = text.indexOf(":", at);
      const name = colon > at && colon < eol ? headerName(text.slice(at, colon)) : "";
      // Also refuses obsolete line folding (a line starting with a space) and "Name :" spellings.
      if (!TOKEN.test(name))
        throw new ProtocolError(`bad header line ${JSON.stringify(text.slice(at, Math.min(eol, at + 60)))}`);
      const value = fieldValue(text, colon + 1, eol);
      if (name === "content-length") {
        if (!DIGITS.test(value) || (length !== undefined && length !== value))
          throw new ProtocolError(`bad Content-Length ${JSON.stringify(value.slice(0, 30))}`);
        length = value;
      } else if (name === "transfer-encoding") {
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
        continue;
      } else if (name === "connection") {
        connection ??= [];
        for (const token of value.split(",")) connection.push(token.trim().toLowerCase());
        continue;
      }
      if (!HOP.has(name)) headers.push([name, value]);
      else hop = true;
    }
    this.reusable = status[1] === "1" && !connection?.includes("close");
    const named = connection?.filter((n) => n !== "close" && n !== "keep-alive");
    const kept = named?.length ? headers.filter(([n]) => !named.includes(n)) : headers;
    const statusText = status[3] ?? "";
    const noBody = this.method === "HEAD" || code === 204 || code === 304;
    const plain = status[1] === "1" && !hop && connection === undefined && transferEncoding === undefined;
    const raw = plain && (noBody || length !== undefined) ? buf.subarray(start, end) : undefined;
    if (noBody) {
      this.events.head({ status: code, statusText, headers: kept, raw });
      this.finish();
      return;
    }
    if (transferEncoding !== undefined) {
      // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, and such a message is not trusted for
      // reuse; a coding other than chunked last means the body runs until the connection closes.
      const codings = transferEncoding.toLowerCase().split(",");
      const chunked = codings[codings.length - 1]?.trim() === "chunked";
      if (length !== undefined || !chunked) this.reusable = false;
      const headersOut = kept.filter(([n]) => n !== "content-length");
      this.events.head({ status: code, statusText, headers: headersOut });
      this.state = chunked ? State.ChunkSize : State.Close;
      return;
    }
    this.events.head({ status: code, statusText, headers: kept, raw });
    if (length === undefined) {
      this.reusable = false;
      this.state = State.Close;
      return;
    }
    this.remaining = Number(length);
    if (this.remaining === 0) this.finish();
    else this.state = State.Length;
  }
}

const toBuffer = (data: Uint8Array): Buffer =>
  Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/** Header names seen, lower-cased: the same few names come in every head, and lower-casing allocates. */
const lowerNames = new Map<string, string>();

/** A header name, lower-cased. */
export function headerName(name: string): string {
  let lower = lowerNames.get(name);
  if (lower === undefined) {
    lower = name.toLowerCase();
    // Names come from clients and upstreams: keep the memo bounded.
    if (lowerNames.size < 2000) lowerNames.set(name, lower);
  }
  return lower;
}

/** The field value between `from` and `to` in `text`, without the spaces and tabs around it (OWS). */
export function fieldValue(text: string, from: number, to: number): string {
  let start = from;
  let end = to;
  while (start < end && isOws(text.charCodeAt(start))) start++;
  while (end > start && isOws(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

const isOws = (c: number) => c === 32 || c === 9;
