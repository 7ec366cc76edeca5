import { describe, expect, test } from "bun:test";
import { DEFAULT_TRUSTED_PROXY_CIDRS, TrustedProxies } from "../../shared/networks.ts";
import { readProxyHeader } from "./proxy-protocol.ts";

const bytes = (text: string) => Buffer.from(text, "latin1");
const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A v2 header: version 2, `command`, `family`/STREAM, then `body`. */
function v2(command: number, family: number, body: number[]): Buffer {
  return Buffer.from([
    ...SIGNATURE,
    0x20 | command,
    (family << 4) | 1,
    body.length >> 8,
    body.length & 0xff,
    ...body,
  ]);
}

describe("version 1", () => {
  test("TCP4 and TCP6 give the source address and the header's length", () => {
    const line = "PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n";
    expect(readProxyHeader(bytes(`${line}GET / HTTP/1.1\r\n`))).toEqual({
      kind: "header",
      length: line.length,
      source: "203.0.113.7",
    });
    const six = "PROXY TCP6 2001:DB8:0:0:0:0:0:1 2001:db8::2 4000 80\r\n";
    expect(readProxyHeader(bytes(six))).toEqual({
      kind: "header",
      length: six.length,
      source: "2001:db8::1",
    });
  });

  test("UNKNOWN keeps the connection's own address", () => {
    expect(readProxyHeader(bytes("PROXY UNKNOWN\r\n"))).toEqual({
      kind: "header",
      length: 15,
      source: undefined,
    });
    const line = "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n";
    expect(readProxyHeader(bytes(line))).toEqual({ kind: "header", length: line.length, source: undefined });
  });

  test("a header cut short waits for the rest", () => {
    for (const start of ["P", "PRO", "PROXY"])
      expect(readProxyHeader(bytes(start))).toEqual({ kind: "incomplete" });
    expect(readProxyHeader(bytes("PROXY TCP4 203.0.113.7 19"))).toEqual({ kind: "incomplete" });
  });

  test("malformed headers are refused with a reason", () => {
    for (const bad of [
      "PROXY TCP4 203.0.113.999 192.0.2.1 1 2\r\n",
      "PROXY TCP4 203.0.113.7 192.0.2.1 1 99999\r\n",
      "PROXY TCP6 not:an:address:: ::1 1 2\r\n",
      "PROXY TCP4 203.0.113.7 192.0.2.1 1\r\n",
      "PROXY UDP4 203.0.113.7 192.0.2.1 1 2\r\n",
      "PROXY TCP4  203.0.113.7 192.0.2.1 1 2\r\n",
    ]) {
      const read = readProxyHeader(bytes(bad));
      expect(read.kind, bad).toBe("invalid");
    }
    const long = readProxyHeader(bytes(`PROXY UNKNOWN ${"x".repeat(120)}`));
    expect(long).toEqual({ kind: "invalid", reason: "a v1 header longer than 107 bytes" });
  });
});

describe("version 2", () => {
  test("PROXY over IPv4 and IPv6, with TLVs after the addresses", () => {
    const four = v2(1, 1, [203, 0, 113, 7, 192, 0, 2, 1, 0xdc, 0x04, 0x01, 0xbb, 0x04, 0x00, 0x01, 0x61]);
    expect(readProxyHeader(Buffer.concat([four, bytes("GET /")]))).toEqual({
      kind: "header",
      length: four.length,
      source: "203.0.113.7",
    });
    const src = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 0x05];
    const six = v2(1, 2, [...src, ...Array(16).fill(0), 0, 1, 0, 2]);
    expect(readProxyHeader(six)).toEqual({ kind: "header", length: six.length, source: "2001:db8::5" });
  });

  test("LOCAL (a balancer's health check) and UNSPEC keep the connection's own address", () => {
    const local = v2(0, 0, []);
    expect(readProxyHeader(local)).toEqual({ kind: "header", length: 16, source: undefined });
    const unspec = v2(1, 0, [1, 2, 3]);
    expect(readProxyHeader(unspec)).toEqual({ kind: "header", length: 19, source: undefined });
  });

  test("a header cut short waits for the rest", () => {
    const full = v2(1, 1, [203, 0, 113, 7, 192, 0, 2, 1, 0, 1, 0, 2]);
    for (const n of [1, 11, 12, 15, 16, full.length - 1])
      expect(readProxyHeader(full.subarray(0, n))).toEqual({ kind: "incomplete" });
  });

  test("malformed headers are refused with a reason", () => {
    const wrongVersion = v2(1, 1, [203, 0, 113, 7, 192, 0, 2, 1, 0, 1, 0, 2]);
    wrongVersion[12] = 0x11;
    expect(readProxyHeader(wrongVersion)).toEqual({ kind: "invalid", reason: "a v2 header of version 1" });
    expect(readProxyHeader(v2(2, 1, Array(12).fill(0))).kind).toBe("invalid");
    expect(readProxyHeader(v2(1, 1, [1, 2, 3])).kind).toBe("invalid");
    expect(readProxyHeader(v2(1, 2, Array(20).fill(0))).kind).toBe("invalid");
    expect(readProxyHeader(v2(1, 5, Array(12).fill(0))).kind).toBe("invalid");
    const huge = Buffer.from([...SIGNATURE, 0x21, 0x11, 0xff, 0xff]);
    expect(readProxyHeader(huge)).toEqual({ kind: "invalid", reason: "a v2 header of 65535 bytes" });
  });
});

test("anything else is the connection's own bytes", () => {
  for (const text of ["GET / HTTP/1.1\r\n", "POST /", "\x16\x03\x01", "PROXYX", "\r\n\r\nX"])
    expect(readProxyHeader(bytes(text)), JSON.stringify(text)).toEqual({ kind: "none" });
});

test("trusted proxies: authentik's default networks, and a list of none", () => {
  const trusted = new TrustedProxies(DEFAULT_TRUSTED_PROXY_CIDRS);
  for (const address of ["127.0.0.1", "10.1.2.3", "172.31.0.1", "192.168.1.1", "::1", "::ffff:127.0.0.1"])
    expect(trusted.trusts(address), address).toBe(true);
  for (const address of ["203.0.113.7", "172.32.0.1", "2001:db8::1", "not an address"])
    expect(trusted.trusts(address), address).toBe(false);
  const none = new TrustedProxies("");
  expect(none.none).toBe(true);
  expect(none.trusts("127.0.0.1")).toBe(false);
  expect(new TrustedProxies("10.0.0.0/8, nonsense").invalid).toEqual(["nonsense"]);
});
