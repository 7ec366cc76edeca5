/**
 * The OAuth state (authentik's oauth_state.go): an HS256 JWT signed with the provider's cookie secret,
 * `{iss: "goauthentik.io/outpost/<client_id>", sid, state, redirect}`, where `sid` binds it to the
 * browser that started the login (derived from its pre-session cookie). The PKCE verifier is derived
 * from the same pre-session and state with the cookie secret, so it never travels in a URL and any
 * replica can recompute it.
 */
import { createHmac, randomBytes } from "node:crypto";
import { errors, jwtVerify, SignJWT } from "jose";

export const STATE_LIFETIME_S = 600;

export interface StateClaims {
  sid: string;
  state: string;
  redirect: string;
}

const issuer = (clientId: string) => `goauthentik.io/outpost/${clientId}`;

/** The pre-session's id as the state carries it: not the cookie value, and not its session hash. */
export function preSessionId(cookieSecret: Uint8Array, cookieValue: string): string {
  return createHmac("sha256", cookieSecret).update(`sid\0${cookieValue}`).digest("base64url");
}

/** RFC 7636 verifier (43 characters) for this browser's login attempt. */
export function pkceVerifier(cookieSecret: Uint8Array, sid: string, state: string): string {
  return createHmac("sha256", cookieSecret).update(`pkce\0${sid}\0${state}`).digest("base64url");
}

export function pkceChallenge(verifier: string): string {
  return new Bun.CryptoHasher("sha256").update(verifier).digest("base64url");
}

export async function signState(
  key: Uint8Array,
  clientId: string,
  sid: string,
  redirect: string,
  nowS: number,
): Promise<{ jwt: string; state: string }> {
  const state = randomBytes(24).toString("base64url");
  const jwt = await new SignJWT({ sid, state, redirect })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(issuer(clientId))
    .setIssuedAt(nowS)
    .setExpirationTime(nowS + STATE_LIFETIME_S)
    .sign(key);
  return { jwt, state };
}

export type StateResult = { ok: true; claims: StateClaims } | { ok: false; reason: string };

/** Checks signature, issuer, expiry and that the state belongs to this browser's pre-session. */
export async function verifyState(
  key: Uint8Array,
  clientId: string,
  jwt: string,
  sid: string | undefined,
  nowS: number,
): Promise<StateResult> {
  try {
    const { payload } = await jwtVerify(jwt, key, {
      algorithms: ["HS256"],
      issuer: issuer(clientId),
      currentDate: new Date(nowS * 1000),
    });
    const { sid: stateSid, state, redirect } = payload as Partial<Record<string, unknown>>;
    if (typeof stateSid !== "string" || typeof state !== "string" || typeof redirect !== "string")
      return { ok: false, reason: "the state is incomplete" };
    if (!sid || stateSid !== sid)
      return { ok: false, reason: "the state belongs to another browser session" };
    return { ok: true, claims: { sid: stateSid, state, redirect } };
  } catch (err) {
    if (err instanceof errors.JWTExpired) return { ok: false, reason: "the state has expired" };
    return { ok: false, reason: "the state is not valid" };
  }
}
