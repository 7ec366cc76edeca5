/**
 * Front-channel logout (OIDC Front-Channel Logout 1.0): the clients a browser session's tokens went to
 * that log out by front-channel get their `logout_uri` loaded in a hidden iframe of the page that ends
 * the session, with `iss` and `sid` (§2), so each can end its own session for it.
 *
 * Modern browsers withhold third-party cookies from such iframes, so a client that needs its cookie to
 * find the session should use `sid`, or back-channel logout.
 */
import type { CoreContext } from "../context.ts";
import { OAUTH2_CLIENT_KINDS } from "../providers/base.ts";
import { oauth2Settings } from "../providers/oauth2.ts";
import { fromJson } from "../store/codec.ts";
import { sessionSid } from "./claims.ts";

export interface FrontchannelLogout {
  url: string;
  provider_name: string;
}

/** The front-channel logout URLs for a session, from its tokens (revoked or not). */
export async function frontchannelLogoutUrls(
  ctx: CoreContext,
  sessionHash: string,
): Promise<FrontchannelLogout[]> {
  const rows = await ctx.store.db
    .selectFrom("oauth2_tokens as t")
    .innerJoin("providers as p", "p.id", "t.provider_id")
    .selectAll("p")
    .select("t.claims as token_claims")
    .where("t.session_hash", "=", sessionHash)
    .where("p.kind", "in", OAUTH2_CLIENT_KINDS)
    .execute();
  const seen = new Set<number>();
  const out: FrontchannelLogout[] = [];
  for (const { token_claims, ...provider } of rows) {
    if (seen.has(provider.id)) continue;
    seen.add(provider.id);
    const settings = oauth2Settings(provider);
    const url = settings.logout_method === "frontchannel" ? URL.parse(settings.logout_uri) : null;
    const iss = fromJson<{ iss?: unknown }>(token_claims).iss;
    if (!url || (url.protocol !== "https:" && url.protocol !== "http:") || typeof iss !== "string") continue;
    url.searchParams.set("iss", iss);
    url.searchParams.set("sid", sessionSid(sessionHash));
    out.push({ url: url.toString(), provider_name: provider.name });
  }
  return out;
}
