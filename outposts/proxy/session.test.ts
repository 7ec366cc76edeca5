import { describe, expect, test } from "bun:test";
import { sha256Hex } from "../../shared/crypto.ts";
import { type ApiClient, NotFound } from "../runtime/api.ts";
import { sealToken } from "./seal.ts";
import { SessionStore } from "./session.ts";

/** A core that knows one session; counts the lookups. */
function fakeCore(cookie: string, sid = "core-sid") {
  const calls = { get: 0 };
  let live = true;
  const api = {
    async get(path: string) {
      calls.get++;
      if (!live || path !== `/outposts/proxy/sessions/${sha256Hex(cookie)}/`) throw new NotFound(path);
      return {
        session_hash: sha256Hex(cookie),
        provider: 1,
        user: 7,
        sid,
        claims: { preferred_username: "alice" },
        sealed_token: sealToken(cookie, "the-token"),
        expires: new Date(Date.now() + 3_600_000).toISOString(),
      };
    },
  } as unknown as ApiClient;
  const end = () => {
    live = false;
  };
  return { api, calls, end };
}

describe("the session cache in front of the core", () => {
  test("finds a session by its cookie, opens its token, and holds the answer for a few seconds", async () => {
    const core = fakeCore("cookie-1");
    let now = Date.now();
    const store = new SessionStore(
      () => core.api,
      () => now,
    );
    const found = await store.find(1, "cookie-1");
    expect(found).toMatchObject({
      token: "the-token",
      sid: "core-sid",
      claims: { preferred_username: "alice" },
    });
    await store.find(1, "cookie-1");
    expect(core.calls.get).toBe(1);
    expect(await store.find(2, "cookie-1")).toBeUndefined(); // another provider's cookie
    core.end();
    now += 6_000;
    expect(await store.find(1, "cookie-1")).toBeUndefined();
    expect(core.calls.get).toBe(2);
  });

  test("SESSION_END drops the cached sessions of that core session at once", async () => {
    const core = fakeCore("cookie-2", "ended-sid");
    const store = new SessionStore(() => core.api);
    expect(await store.find(1, "cookie-2")).toBeDefined();
    expect(store.endSid("ended-sid")).toBe(1);
    // Even if the core still answered (a late reply), an ended session does not come back.
    expect(await store.find(1, "cookie-2")).toBeUndefined();
    expect(store.isEnded("ended-sid")).toBe(true);
  });

  test("unknown cookies are remembered as unknown, briefly", async () => {
    const core = fakeCore("cookie-3");
    const store = new SessionStore(() => core.api);
    expect(await store.find(1, "other")).toBeUndefined();
    expect(await store.find(1, "other")).toBeUndefined();
    expect(core.calls.get).toBe(1);
  });
});
