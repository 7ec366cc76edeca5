import { expect, test } from "bun:test";
import { mostSpecific, parseNetworks } from "./networks.ts";

test("the longest matching prefix wins, across IPv4 and IPv6", () => {
  const all = [
    ...parseNetworks("0.0.0.0/0, ::/0", "any").networks,
    ...parseNetworks("10.0.0.0/8", "ten").networks,
    ...parseNetworks("10.1.2.0/24, 2001:db8::/32", "lab").networks,
    ...parseNetworks("10.1.2.3", "host").networks,
  ];
  expect(mostSpecific(all, "10.1.2.3")?.value).toBe("host");
  expect(mostSpecific(all, "10.1.2.4")?.value).toBe("lab");
  expect(mostSpecific(all, "10.9.9.9")?.value).toBe("ten");
  expect(mostSpecific(all, "192.0.2.1")?.value).toBe("any");
  expect(mostSpecific(all, "::ffff:10.1.2.3")?.value).toBe("host");
  expect(mostSpecific(all, "2001:db8::1")?.value).toBe("lab");
  expect(mostSpecific(all, "2001:db9::1")?.value).toBe("any");
  expect(mostSpecific(parseNetworks("10.0.0.0/8", 1).networks, "11.0.0.1")).toBeUndefined();
});

test("entries that are not networks are reported", () => {
  expect(parseNetworks("10.0.0.0/33, nope, 1.2.3.4/x, ::1/128", 0).invalid).toEqual([
    "10.0.0.0/33",
    "nope",
    "1.2.3.4/x",
  ]);
});
