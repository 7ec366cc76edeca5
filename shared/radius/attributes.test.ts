import { expect, test } from "bun:test";
import { AttributeError, decodeAttributes, encodeAttributes } from "./attributes.ts";

const hex = (m: [string, unknown][]) =>
  decodeAttributes(encodeAttributes(m)).map(([t, v]) => [t, v.toString("hex")]);

test("tunnel attributes carry their tag; names of values become numbers", () => {
  expect(
    hex([
      ["Tunnel-Type", "VLAN"],
      ["Tunnel-Medium-Type", 6],
      ["Tunnel-Private-Group-Id", "42"],
      ["Tunnel-Private-Group-Id:1", "43"],
    ]),
  ).toEqual([
    [64, "0000000d"],
    [65, "00000006"],
    [81, "3432"],
    [81, "013433"],
  ]);
});

test("lists repeat an attribute; vendor attributes are wrapped in Vendor-Specific", () => {
  expect(hex([["Class", ["a", "b"]]])).toEqual([
    [25, "61"],
    [25, "62"],
  ]);
  expect(hex([["Cisco-AVPair", "x=1"]])).toEqual([[26, `000000090105${Buffer.from("x=1").toString("hex")}`]]);
  expect(hex([["Vendor-Specific:14988:8", "1M/1M"]])[0]?.[1]).toStartWith("00003a8c0807");
});

test("unknown names, reserved attributes and bad values are errors", () => {
  expect(() => encodeAttributes([["Nope", "x"]])).toThrow(AttributeError);
  expect(() => encodeAttributes([["User-Password", "x"]])).toThrow(AttributeError);
  expect(() => encodeAttributes([["Session-Timeout", "soon"]])).toThrow(AttributeError);
  expect(() => encodeAttributes([["Filter-Id", "x".repeat(300)]])).toThrow(AttributeError);
  expect(() => decodeAttributes(Buffer.from([1, 9, 0]))).toThrow(AttributeError);
});
