import { expect, test } from "bun:test";
import { DEFAULT_TRUSTED_PROXY_CIDRS, TrustedProxies } from "../../../shared/networks.ts";
import { clientAddress } from "./client-address.ts";

const trusted = new TrustedProxies(DEFAULT_TRUSTED_PROXY_CIDRS);
const from = (peer: string | null, headers: Record<string, string>, proxies = trusted) =>
  clientAddress(peer, new Headers(headers), proxies);

test("a peer that is not a trusted proxy is the client, whatever it sends", () => {
  expect(from("203.0.113.7", { "x-forwarded-for": "198.51.100.1" })).toBe("203.0.113.7");
  expect(from("203.0.113.7", { "x-real-ip": "198.51.100.1" })).toBe("203.0.113.7");
  expect(from(null, { "x-forwarded-for": "198.51.100.1" })).toBeNull();
  expect(from("127.0.0.1", { "x-forwarded-for": "198.51.100.1" }, new TrustedProxies(""))).toBe("127.0.0.1");
});

test("behind trusted proxies, the first address from the right that no trusted proxy owns", () => {
  expect(from("127.0.0.1", { "x-forwarded-for": "198.51.100.1" })).toBe("198.51.100.1");
  // The client wrote the first entry itself; the proxy appended the address it saw.
  expect(from("127.0.0.1", { "x-forwarded-for": "192.0.2.66, 198.51.100.1" })).toBe("198.51.100.1");
  // Two proxies of ours in a row.
  expect(from("10.0.0.3", { "x-forwarded-for": "198.51.100.1, 10.0.0.2" })).toBe("198.51.100.1");
  // Only trusted addresses: the leftmost.
  expect(from("127.0.0.1", { "x-forwarded-for": "10.1.1.1, 10.0.0.2" })).toBe("10.1.1.1");
  expect(from("::1", { "x-forwarded-for": "2001:db8::5" })).toBe("2001:db8::5");
});

test("ports and brackets as proxies write them", () => {
  expect(from("127.0.0.1", { "x-forwarded-for": "198.51.100.1:4711" })).toBe("198.51.100.1");
  expect(from("127.0.0.1", { "x-forwarded-for": "[2001:db8::5]:4711" })).toBe("2001:db8::5");
  expect(from("127.0.0.1", { "x-forwarded-for": "[2001:db8::5]" })).toBe("2001:db8::5");
});

test("an entry that is not an address stops the walk at the last good one", () => {
  expect(from("127.0.0.1", { "x-forwarded-for": "unknown" })).toBe("127.0.0.1");
  expect(from("127.0.0.1", { "x-forwarded-for": "" })).toBe("127.0.0.1");
  expect(from("127.0.0.1", { "x-forwarded-for": "198.51.100.1, not-an-ip, 10.0.0.2" })).toBe("10.0.0.2");
  expect(from("127.0.0.1", { "x-forwarded-for": "999.1.1.1" })).toBe("127.0.0.1");
});

test("without X-Forwarded-For, X-Real-IP", () => {
  expect(from("127.0.0.1", { "x-real-ip": "198.51.100.1" })).toBe("198.51.100.1");
  expect(from("127.0.0.1", { "x-real-ip": "nonsense" })).toBe("127.0.0.1");
  expect(from("127.0.0.1", {})).toBe("127.0.0.1");
});
