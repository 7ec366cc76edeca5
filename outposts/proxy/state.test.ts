import { describe, expect, test } from "bun:test";
import {
  pkceChallenge,
  pkceVerifier,
  preSessionId,
  STATE_LIFETIME_S,
  signState,
  verifyState,
} from "./state.ts";

const key = new TextEncoder().encode("cookie-secret");
const NOW = 1_900_000_000;

describe("the OAuth state", () => {
  test("round-trips for the browser that started it", async () => {
    const sid = preSessionId(key, "pre-session-cookie-value");
    const { jwt, state } = await signState(key, "client", sid, "https://app.test/x", NOW);
    const payload = JSON.parse(Buffer.from(jwt.split(".")[1] as string, "base64url").toString());
    expect(payload).toMatchObject({
      iss: "goauthentik.io/outpost/client",
      sid,
      state,
      redirect: "https://app.test/x",
    });
    expect(await verifyState(key, "client", jwt, sid, NOW + 10)).toEqual({
      ok: true,
      claims: { sid, state, redirect: "https://app.test/x" },
    });
  });

  test("refuses another browser, another client, another key, an expired or a tampered state", async () => {
    const sid = preSessionId(key, "a");
    const { jwt } = await signState(key, "client", sid, "/", NOW);
    expect(await verifyState(key, "client", jwt, preSessionId(key, "b"), NOW)).toMatchObject({ ok: false });
    expect(await verifyState(key, "client", jwt, undefined, NOW)).toMatchObject({ ok: false });
    expect(await verifyState(key, "other", jwt, sid, NOW)).toMatchObject({ ok: false });
    expect(await verifyState(new TextEncoder().encode("x"), "client", jwt, sid, NOW)).toMatchObject({
      ok: false,
    });
    expect(await verifyState(key, "client", jwt, sid, NOW + STATE_LIFETIME_S + 1)).toEqual({
      ok: false,
      reason: "the state has expired",
    });
    const [h, , s] = jwt.split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ sid, state: "x", redirect: "https://evil.test" })).toString("base64url")}.${s}`;
    expect(await verifyState(key, "client", forged, sid, NOW)).toMatchObject({ ok: false });
    expect(await verifyState(key, "client", "not-a-jwt", sid, NOW)).toMatchObject({ ok: false });
  });

  test("the PKCE verifier is a valid RFC 7636 verifier, bound to the browser and the state", () => {
    const v = pkceVerifier(key, "sid", "state");
    expect(v).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(pkceVerifier(key, "sid2", "state")).not.toBe(v);
    expect(pkceChallenge(v)).toBe(new Bun.CryptoHasher("sha256").update(v).digest("base64url"));
  });

  test("the state's sid reveals neither the cookie value nor the session hash", () => {
    const sid = preSessionId(key, "value");
    expect(sid).not.toContain("value");
    expect(sid).not.toBe(new Bun.CryptoHasher("sha256").update("value").digest("hex"));
  });
});
