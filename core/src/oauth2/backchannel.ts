/**
 * When a browser session ends (logout, an admin ending it, …) its OAuth2 tokens end with it, and every
 * provider that issued some and logs out by back-channel gets a Logout Token (OIDC Back-Channel Logout
 * 1.0 §2.4) posted to its `logout_uri`.
 *
 * Revoking and finding whom to tell are one statement (UPDATE … RETURNING), so nothing is lost between
 * the two and, with several replicas hearing the same signal, only one of them tells each client. The
 * posts run after the request that ended the session, with a timeout; a failure is logged, never the
 * token.
 */
import { randomUUID } from "node:crypto";
import type { CoreContext } from "../context.ts";
import { OAUTH2_CLIENT_KINDS, type ProviderRow } from "../providers/base.ts";
import { oauth2Settings } from "../providers/oauth2.ts";
import { fromJson } from "../store/codec.ts";
import { sessionSid } from "./claims.ts";
import { type SigningKey, signingKey } from "./keys.ts";

export const BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout";
/** How long a Logout Token is good for (§2.4 suggests at most two minutes). */
const LOGOUT_TOKEN_SECONDS = 120;
const DEFAULT_TIMEOUT_MS = 5000;

export interface BackchannelOptions {
  /** How long one client may take to answer. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** A session's tokens as they were before revocation: what a Logout Token needs per provider. */
interface Notice {
  provider: ProviderRow;
  iss: string;
  sub: string;
}

/** Revokes the session's live tokens; returns one notice per provider that logs out by back-channel. */
export async function revokeSessionTokens(ctx: CoreContext, sessionHash: string): Promise<Notice[]> {
  const revoked = await ctx.store.db
    .updateTable("oauth2_tokens")
    .set({ revoked: true })
    .where("session_hash", "=", sessionHash)
    .where("revoked", "=", false)
    .returning(["provider_id", "claims"])
    .execute();
  if (revoked.length === 0) return [];
  const claimsOf = new Map<number, Record<string, unknown>>();
  for (const row of revoked)
    if (!claimsOf.has(row.provider_id)) claimsOf.set(row.provider_id, fromJson(row.claims));
  const providers = await ctx.store.db
    .selectFrom("providers")
    .selectAll()
    .where("id", "in", [...claimsOf.keys()])
    .where("kind", "in", OAUTH2_CLIENT_KINDS)
    .execute();
  const notices: Notice[] = [];
  for (const provider of providers) {
    const settings = oauth2Settings(provider);
    const claims = claimsOf.get(provider.id) ?? {};
    if (settings.logout_method !== "backchannel" || !settings.logout_uri) continue;
    if (typeof claims.iss !== "string" || typeof claims.sub !== "string") continue;
    notices.push({ provider, iss: claims.iss, sub: claims.sub });
  }
  return notices;
}

/** A Logout Token (§2.4): signed with the provider's key, `typ` logout+jwt, never a nonce. */
export async function logoutToken(
  key: SigningKey,
  claims: { iss: string; aud: string; sub: string; sid: string; now: number },
): Promise<string> {
  const { SignJWT } = await import("jose");
  const jwt = new SignJWT({
    iss: claims.iss,
    aud: claims.aud,
    iat: claims.now,
    exp: claims.now + LOGOUT_TOKEN_SECONDS,
    jti: randomUUID(),
    sub: claims.sub,
    sid: claims.sid,
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
  });
  if (key.alg === "HS256")
    return jwt.setProtectedHeader({ alg: "HS256", typ: "logout+jwt" }).sign(key.secret);
  return jwt.setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "logout+jwt" }).sign(key.privateKey);
}

/** Posts one Logout Token; failures are logged with a code and the provider, never with the token. */
async function tell(ctx: CoreContext, notice: Notice, sessionHash: string, options: BackchannelOptions) {
  const settings = oauth2Settings(notice.provider);
  const where = URL.parse(settings.logout_uri);
  const fields = { provider: notice.provider.name, logout_uri: settings.logout_uri };
  if (!where || (where.protocol !== "http:" && where.protocol !== "https:")) {
    ctx.log.warn("a back-channel logout URI is not http(s); not sent", {
      code: "OA0101LogoutUri",
      ...fields,
    });
    return;
  }
  try {
    const token = await logoutToken(await signingKey(ctx.store.db, notice.provider), {
      iss: notice.iss,
      aud: settings.client_id,
      sub: notice.sub,
      sid: sessionSid(sessionHash),
      now: Math.floor(ctx.clock().getTime() / 1000),
    });
    const res = await (options.fetch ?? fetch)(where, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ logout_token: token }).toString(),
      // §2.8: the answer is 200 or 204; a redirect is a failure, not somewhere else to post to.
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    });
    await res.body?.cancel().catch(() => {});
    if (res.status !== 200 && res.status !== 204)
      ctx.log.warn("a client refused a back-channel logout", {
        code: "OA0102LogoutRefused",
        status: res.status,
        ...fields,
      });
  } catch (err) {
    ctx.log.warn("a back-channel logout could not be delivered", {
      code: "OA0103LogoutUndelivered",
      error: (err as Error).name === "TimeoutError" ? "timed out" : (err as Error).message,
      ...fields,
    });
  }
}

/** Revokes a session's tokens and tells the back-channel clients; for one ended session. */
export async function endSessionTokens(
  ctx: CoreContext,
  sessionHash: string,
  options: BackchannelOptions = {},
): Promise<void> {
  const notices = await revokeSessionTokens(ctx, sessionHash);
  await Promise.all(notices.map((n) => tell(ctx, n, sessionHash, options)));
}

/**
 * Listens for ended sessions for the life of the core. `stop` unsubscribes and waits for the work
 * already started (each post is bounded by its timeout).
 */
export function endTokensWithSessions(
  ctx: CoreContext,
  options: BackchannelOptions = {},
): { stop(): Promise<void> } {
  const running = new Set<Promise<void>>();
  const off = ctx.signals.on((signal) => {
    if (signal.kind !== "session_ended") return;
    const work = endSessionTokens(ctx, signal.session, options)
      .catch((err: unknown) =>
        ctx.log.error("ending a session's OAuth2 tokens failed", {
          code: "OA0104SessionTokens",
          error: (err as Error).message,
        }),
      )
      .finally(() => running.delete(work));
    running.add(work);
  });
  return {
    async stop() {
      off();
      await Promise.all(running);
    },
  };
}
