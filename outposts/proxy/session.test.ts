import { describe, expect, test } from "bun:test";
import { sha256Hex } from "../../shared/crypto.ts";
import { type ApiClient, CoreUnavailable, NotFound } from "../runtime/api.ts";
import { sealToken } from "./seal.ts";
import { SessionStore, STALE_GRACE_MS } from "./session.ts";

/** A core that knows one session; counts the lookups. */
function fakeCore(cookie: string, sid = "core-sid") {
  const calls = { get: 0 };
  let live = true;
  let down = false;
  const api = {
    async get(path: string) {
      calls.get++;
      if (down) throw new CoreUnavailable("cannot reach the core: connection refused");
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
  const away = (is = true) => {
    down = is;
  };
  return { api, calls, end, away };
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

  test("while the core is away, a session it confirmed recently is still honoured, for a while", async () => {
    const core = fakeCore("cookie-4");
    let now = Date.now();
    const store = new SessionStore(
      () => core.api,
      () => now,
    );
    expect(await store.find(1, "cookie-4")).toBeDefined();
    core.away();
    now += 6_000;
    expect(await store.find(1, "cookie-4")).toMatchObject({ token: "the-token" });
    // A cookie the outpost never saw live is not guessed at.
    await expect(store.find(1, "never-seen")).rejects.toBeInstanceOf(CoreUnavailable);
    // Past the grace period the outpost stops vouching for it.
    now += STALE_GRACE_MS;
    await expect(store.find(1, "cookie-4")).rejects.toBeInstanceOf(CoreUnavailable);
    core.away(false);
    expect(await store.find(1, "cookie-4")).toBeDefined();
  });

  test("with no grace (proxy.session_grace 0), nothing passes while the core is away", async () => {
    const core = fakeCore("cookie-7");
    let now = Date.now();
    const store = new SessionStore(
      () => core.api,
      () => now,
      5_000,
      0,
    );
    expect(await store.find(1, "cookie-7")).toBeDefined();
    core.away();
    now += 6_000;
    await expect(store.find(1, "cookie-7")).rejects.toBeInstanceOf(CoreUnavailable);
  });

  test("a session the core deleted or ended is not brought back while the core is away", async () => {
    const deleted = fakeCore("cookie-5");
    let now = Date.now();
    const store = new SessionStore(
      () => deleted.api,
      () => now,
    );
    expect(await store.find(1, "cookie-5")).toBeDefined();
    deleted.end();
    now += 6_000;
    expect(await store.find(1, "cookie-5")).toBeUndefined();
    deleted.away();
    now += 6_000;
    await expect(store.find(1, "cookie-5")).rejects.toBeInstanceOf(CoreUnavailable);

    const ended = fakeCore("cookie-6", "sid-6");
    const other = new SessionStore(
      () => ended.api,
      () => now,
    );
    expect(await other.find(1, "cookie-6")).toBeDefined();
    other.endSid("sid-6");
    ended.away();
    now += 6_000;
    await expect(other.find(1, "cookie-6")).rejects.toBeInstanceOf(CoreUnavailable);
  });
});
