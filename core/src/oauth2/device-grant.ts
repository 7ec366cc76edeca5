/**
 * The device code grant at the token endpoint (RFC 8628 §3.4–3.5): while the user has not answered,
 * `authorization_pending` (or `slow_down` when polled faster than the interval); `access_denied` once
 * denied, `expired_token` once expired; tokens once approved — exactly once, as the approved code is
 * deleted in the same statement that claims it. A device code only works for the client it was made for.
 */
import { randomUUID } from "node:crypto";
import { sha256Hex } from "../../../shared/crypto.ts";
import type { CoreContext } from "../context.ts";
import { isPast, toIso } from "../store/codec.ts";
import { issuerOf, scopeMappings } from "./claims.ts";
import { authenticateClient } from "./clients.ts";
import { POLL_INTERVAL_S } from "./device.ts";
import { OAuthError, originOf } from "./http.ts";
import { activeUser, issueTokens } from "./issue.ts";

export async function deviceCodeGrant(ctx: CoreContext, request: Request, form: URLSearchParams) {
  const provider = await authenticateClient(ctx, request, form, { allowPublic: true });
  const deviceCode = form.get("device_code");
  if (!deviceCode) throw new OAuthError("invalid_request", "device_code is missing");
  const db = ctx.store.db;
  const hash = sha256Hex(deviceCode);
  const row = await db
    .selectFrom("oauth2_device_codes")
    .selectAll()
    .where("device_code_hash", "=", hash)
    .where("provider_id", "=", provider.id)
    .executeTakeFirst();
  if (!row) throw new OAuthError("invalid_grant", "the device code is invalid");
  const now = ctx.clock();
  if (isPast(row.expires, now)) throw new OAuthError("expired_token", "the device code has expired");
  if (row.status === "denied") throw new OAuthError("access_denied", "the user denied the request");
  if (row.status === "pending") {
    // Claimed in one statement, so two polls at once cannot both get past the interval.
    const polled = await db
      .updateTable("oauth2_device_codes")
      .set({ last_poll: now.toISOString() })
      .where("device_code_hash", "=", hash)
      .where("status", "=", "pending")
      .where((eb) =>
        eb.or([
          eb("last_poll", "is", null),
          eb("last_poll", "<=", new Date(now.getTime() - POLL_INTERVAL_S * 1000).toISOString()),
        ]),
      )
      .executeTakeFirst();
    if (Number(polled.numUpdatedRows ?? 0) !== 1)
      throw new OAuthError("slow_down", `poll no more often than every ${POLL_INTERVAL_S} seconds`);
    throw new OAuthError("authorization_pending", "the user has not answered yet");
  }
  // Approved: single use, also against a concurrent exchange of the same code.
  const taken = await db
    .deleteFrom("oauth2_device_codes")
    .where("device_code_hash", "=", hash)
    .where("status", "=", "approved")
    .executeTakeFirst();
  if (Number(taken.numDeletedRows ?? 0) !== 1 || row.user_id === null)
    throw new OAuthError("invalid_grant", "the device code is invalid");
  const user = await activeUser(ctx, row.user_id);
  const authTime = row.auth_time === null ? now : new Date(toIso(row.auth_time));
  return issueTokens(ctx, {
    provider,
    mappings: await scopeMappings(ctx, provider),
    user,
    scopes: row.scope.split(" ").filter(Boolean),
    issuer: await issuerOf(ctx, originOf(request), provider),
    authTime: Math.floor(authTime.getTime() / 1000),
    sessionHash: row.session_hash,
    amr: row.amr ? row.amr.split(" ") : undefined,
    family: randomUUID(),
    refresh: true,
    idToken: true,
  });
}
