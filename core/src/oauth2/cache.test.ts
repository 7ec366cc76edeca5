import { describe, expect, test } from "bun:test";
import { CACHE_TTL_MS, OAuth2Cache } from "./cache.ts";

describe("OAuth2Cache", () => {
  const counting = () => {
    let loads = 0;
    return { load: async () => ++loads, loads: () => loads };
  };

  test("loads once, shares a load under way, and loads again after a clear", async () => {
    const cache = new OAuth2Cache(() => 0);
    const c = counting();
    const [a, b] = await Promise.all([cache.get("k", c.load), cache.get("k", c.load)]);
    expect([a, b, c.loads()]).toEqual([1, 1, 1]);
    cache.clear();
    expect(await cache.get("k", c.load)).toBe(2);
  });

  test("nothing is older than the TTL, even with no change heard (another replica's, say)", async () => {
    let now = 0;
    const cache = new OAuth2Cache(() => now);
    const c = counting();
    await cache.get("k", c.load);
    now = CACHE_TTL_MS - 1;
    expect(await cache.get("k", c.load)).toBe(1);
    now = CACHE_TTL_MS;
    expect(await cache.get("k", c.load)).toBe(2);
  });

  test("a failed load is not kept", async () => {
    const cache = new OAuth2Cache(() => 0);
    await expect(cache.get("k", () => Promise.reject(new Error("store down")))).rejects.toThrow("store down");
    expect(await cache.get("k", async () => "fine")).toBe("fine");
  });

  test("a value read before a clear is not put after it", async () => {
    const cache = new OAuth2Cache(() => 0);
    const before = cache.generation;
    cache.clear();
    cache.put("k", "stale", before);
    expect(cache.peek("k")).toBeUndefined();
    cache.put("k", "fresh", cache.generation);
    expect(await cache.peek("k")).toBe("fresh");
  });
});
