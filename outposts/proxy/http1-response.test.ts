import { describe, expect, test } from "bun:test";
import { ProtocolError, type ResponseHead, ResponseParser } from "./http1-response.ts";

interface Parsed {
  heads: ResponseHead[];
  /** Each head's `raw` bytes (as latin1), or undefined where it has none. */
  raws: (string | undefined)[];
  body: string;
  done: boolean;
  keepAlive: boolean;
}

/** Parses `wire` fed in pieces of `step` bytes (all at once by default), then the socket closing if asked. */
function parse(wire: string, { method = "GET", step = 0, close = false } = {}): Parsed {
  const out: Parsed = { heads: [], raws: [], body: "", done: false, keepAlive: false };
  const parser = new ResponseParser(method, {
    head: ({ raw, ...h }) => {
      out.heads.push(h);
      // Copied now: a view of bytes fed in one piece.
      out.raws.push(raw && Buffer.from(raw).toString("latin1"));
    },
    body: (c) => {
      out.body += Buffer.from(c).toString("latin1");
    },
    done: () => {
      out.done = true;
    },
  });
  const bytes = Buffer.from(wire, "latin1");
  const size = step || bytes.length;
  for (let at = 0; at < bytes.length; at += size) parser.feed(bytes.subarray(at, at + size));
  if (close) parser.end();
  out.keepAlive = parser.keepAlive;
  return out;
}

const fails = (wire: string, options = {}) => expect(() => parse(wire, options)).toThrow(ProtocolError);

describe("reading an upstream's HTTP/1.1 response", () => {
  const lengthed = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world";
  const chunked =
    "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n" +
    "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";

  test("a Content-Length body, however the bytes are split", () => {
    for (const step of [0, 1, 2, 7, 64]) {
      const r = parse(lengthed, { step });
      expect(r.heads).toEqual([
        {
          status: 200,
          statusText: "OK",
          headers: [
            ["content-type", "text/plain"],
            ["content-length", "11"],
          ],
        },
      ]);
      expect(r.body).toBe("hello world");
      expect(r.done).toBe(true);
      expect(r.keepAlive).toBe(true);
    }
  });

  test("a plain head comes with its own bytes, to pass on unchanged; one with anything hop-by-hop does not", () => {
    const head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\n";
    expect(parse(lengthed).raws).toEqual([head]);
    expect(parse("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n").raws).toEqual([
      "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
    ]);
    expect(parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", { method: "HEAD" }).raws).toEqual([
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
    ]);
    const notPlain = [
      chunked,
      "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
      "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi",
      "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nhi",
      "HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nhi",
    ];
    for (const wire of notPlain) expect(parse(wire, { close: true }).raws).toEqual([undefined]);
    // No length: the body runs to the close, which a client must not be left to guess.
    expect(parse("HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nhi", { close: true }).raws).toEqual([undefined]);
  });

  test("a chunked body is decoded (extensions and trailers dropped), however the bytes are split", () => {
    for (const step of [0, 1, 3, 5, 16]) {
      const r = parse(chunked, { step });
      expect(r.heads[0]?.status).toBe(201);
      expect(r.heads[0]?.headers).toEqual([["x-a", "1"]]);
      expect(r.body).toBe("hello world");
      expect(r.done).toBe(true);
      expect(r.keepAlive).toBe(true);
    }
  });

  test("interim 1xx answers are skipped; the final head is the one handed on", () => {
    const r = parse(
      `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n${lengthed}`,
      {
        step: 4,
      },
    );
    expect(r.heads.map((h) => h.status)).toEqual([200]);
    expect(r.body).toBe("hello world");
  });

  test("HEAD, 204 and 304 answers have no body whatever their headers say", () => {
    const head = parse("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", { method: "HEAD" });
    expect(head.done).toBe(true);
    expect(head.keepAlive).toBe(true);
    expect(head.heads[0]?.headers).toEqual([["content-length", "1234"]]);
    for (const status of ["204 No Content", "304 Not Modified"])
      expect(parse(`HTTP/1.1 ${status}\r\nETag: "x"\r\n\r\n`).done).toBe(true);
  });

  test("without a length the body runs until the connection closes, and the socket is not reused", () => {
    const open = parse("HTTP/1.1 200 OK\r\n\r\npart one, ");
    expect(open.done).toBe(false);
    const closed = parse("HTTP/1.1 200 OK\r\n\r\npart one, part two", { close: true });
    expect(closed.body).toBe("part one, part two");
    expect(closed.done).toBe(true);
    expect(closed.keepAlive).toBe(false);
  });

  test("Connection: close, HTTP/1.0 and bytes after the response stop the socket's reuse", () => {
    expect(parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keepAlive).toBe(false);
    expect(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keepAlive).toBe(false);
    expect(parse(`${lengthed}HTTP/1.1 200 OK\r\n`).keepAlive).toBe(false);
  });

  test("hop-by-hop headers and those Connection names are not handed on", () => {
    const r = parse(
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n",
    );
    expect(r.heads[0]?.headers).toEqual([
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
      ["content-length", "0"],
    ]);
  });

  test("Transfer-Encoding beside Content-Length wins, and such a socket is not reused", () => {
    const r = parse(
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    );
    expect(r.body).toBe("ok");
    expect(r.heads[0]?.headers).toEqual([]);
    expect(r.keepAlive).toBe(false);
  });

  test("malformed responses are refused, never guessed at", () => {
    fails("HTTP/2 200 OK\r\n\r\n");
    fails("HTTP/1.1 20 OK\r\n\r\n");
    fails("HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n");
    fails("HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n");
    fails("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");
    fails("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n");
    fails("HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n");
    fails("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    fails("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n");
    fails("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
    fails(`HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(70 * 1024)}\r\n\r\n`, { step: 1024 });
    fails(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${"e".repeat(9000)}`);
  });

  test("a connection closed before or inside a framed response is an error, not a short answer", () => {
    fails("", { close: true });
    fails("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", { close: true });
    fails("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", { close: true });
  });
});
