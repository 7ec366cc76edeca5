/**
 * The device authorization endpoint (/application/o/device/, RFC 8628 §3.1–3.2): a client that cannot
 * show a browser asks for a device code (kept only as its hash) and a short user code, which the user
 * types at /device (device-page.ts); the client then polls the token endpoint (device-grant.ts).
 *
 * A device code lives DEVICE_CODE_VALIDITY_MS (10 minutes: authentik keeps its own fixed device code
 * validity rather than the provider's access_code_validity, which is minutes at most and meant for
 * redirects, not for a user walking to another device). Clients poll every POLL_INTERVAL_S seconds.
 */
import { randomBytes } from "node:crypto";
import { randomSecret, sha256Hex } from "../../../shared/crypto.ts";
import type { CoreContext } from "../context.ts";
import { scopeMappings } from "./claims.ts";
import { authenticateClient } from "./clients.ts";
import { formBody, OAuthError, oauthEndpoint, oauthJson, originOf } from "./http.ts";

export const DEVICE_CODE_VALIDITY_MS = 10 * 60_000;
export const POLL_INTERVAL_S = 5;

/** RFC 8628 §6.1: consonants only, no vowels (no words), no look-alikes (no 0/O, 1/I/L confusion). */
const USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LENGTH = 8;

/** A random user code, stored as-is (upper case, no dash); about 34.5 bits. */
export function newUserCode(): string {
  let code = "";
  // Rejection sampling keeps every letter equally likely (256 is not a multiple of 20).
  const limit = 256 - (256 % USER_CODE_ALPHABET.length);
  while (code.length < USER_CODE_LENGTH) {
    for (const byte of randomBytes(16)) {
      if (byte < limit && code.length < USER_CODE_LENGTH)
        code += USER_CODE_ALPHABET[byte % USER_CODE_ALPHABET.length];
    }
  }
  return code;
}

/** How a user code is shown: XXXX-XXXX. */
export const displayUserCode = (code: string) => `${code.slice(0, 4)}-${code.slice(4)}`;

/**
 * What the user typed, as stored: case and dashes or spaces do not matter. Undefined when it cannot
 * be a user code at all (so it costs no lookup).
 */
export function normalizeUserCode(typed: string): string | undefined {
  const code = typed.toUpperCase().replace(/[\s-]/g, "");
  if (code.length !== USER_CODE_LENGTH) return undefined;
  for (const c of code) if (!USER_CODE_ALPHABET.includes(c)) return undefined;
  return code;
}

export function deviceAuthorizationEndpoint(ctx: CoreContext, request: Request): Promise<Response> {
  return oauthEndpoint(async () => {
    const form = await formBody(request);
    const provider = await authenticateClient(ctx, request, form, { allowPublic: true });
    const app = await ctx.store.db
      .selectFrom("applications")
      .select("slug")
      .where("provider", "=", provider.id)
      .executeTakeFirst();
    // Without an application there are no policies to check and no consent to ask: nothing to grant.
    if (!app) throw new OAuthError("unauthorized_client", "no application is set up for this client");
    const offered = new Set((await scopeMappings(ctx, provider)).map((m) => m.scope_name ?? ""));
    offered.add("openid");
    // As authentik (and the authorization endpoint): scopes without a mapping are dropped, not refused.
    const scopes = [...new Set((form.get("scope") ?? "").split(/\s+/).filter((s) => offered.has(s)))];
    const deviceCode = randomSecret(32);
    const now = ctx.clock();
    const userCode = await insertDeviceCode(ctx, {
      device_code_hash: sha256Hex(deviceCode),
      provider_id: provider.id,
      scope: scopes.join(" "),
      status: "pending",
      user_id: null,
      session_hash: null,
      auth_time: null,
      last_poll: null,
      created: now.toISOString(),
      expires: new Date(now.getTime() + DEVICE_CODE_VALIDITY_MS).toISOString(),
    });
    const verification = `${originOf(request)}/device`;
    return oauthJson({
      device_code: deviceCode,
      user_code: displayUserCode(userCode),
      verification_uri: verification,
      verification_uri_complete: `${verification}?code=${displayUserCode(userCode)}`,
      expires_in: DEVICE_CODE_VALIDITY_MS / 1000,
      interval: POLL_INTERVAL_S,
    });
  });
}

/** Stores a device code under a fresh user code; a taken user code (unique) is drawn again. */
async function insertDeviceCode(
  ctx: CoreContext,
  row: {
    device_code_hash: string;
    provider_id: number;
    scope: string;
    status: "pending";
    user_id: null;
    session_hash: null;
    auth_time: null;
    last_poll: null;
    created: string;
    expires: string;
  },
): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const userCode = newUserCode();
    try {
      await ctx.store.db
        .insertInto("oauth2_device_codes")
        .values({ ...row, user_code: userCode })
        .execute();
      return userCode;
    } catch (err) {
      if (attempt >= 5) throw err;
    }
  }
}

/** Deletes device codes and authorization codes past their expiry (housekeeping). Returns how many. */
export async function deleteExpiredGrantCodes(ctx: CoreContext): Promise<number> {
  const now = ctx.clock().toISOString();
  const devices = await ctx.store.db
    .deleteFrom("oauth2_device_codes")
    .where("expires", "<", now)
    .executeTakeFirst();
  const codes = await ctx.store.db.deleteFrom("oauth2_codes").where("expires", "<", now).executeTakeFirst();
  return Number(devices.numDeletedRows ?? 0) + Number(codes.numDeletedRows ?? 0);
}
