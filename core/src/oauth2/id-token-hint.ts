/**
 * `id_token_hint` (OIDC RP-Initiated Logout 1.0 §2): an ID token this provider issued to this client.
 * The signature must verify with the provider's key and `aud` must name the client; an expired token
 * is still a good hint (§2: "the OP SHOULD accept ID Tokens when the RP identified by the ID Token's
 * aud claim … has a current session or had a recent session"), so `exp` is not checked.
 */
import type { JWTPayload } from "jose";
import type { CoreContext } from "../context.ts";
import type { ProviderRow } from "../providers/base.ts";
import { oauth2Settings } from "../providers/oauth2.ts";
import { signingKey } from "./keys.ts";

/** The hint's claims when it is this client's ID token from this provider, else undefined. */
export async function verifyIdTokenHint(
  ctx: CoreContext,
  provider: ProviderRow,
  token: string,
): Promise<JWTPayload | undefined> {
  const { compactVerify } = await import("jose");
  let key: Awaited<ReturnType<typeof signingKey>>;
  try {
    key = await signingKey(ctx.store.db, provider);
  } catch (err) {
    ctx.log.error("a provider's signing key cannot be used", {
      code: "OA0110LogoutSigningKey",
      provider: provider.name,
      error: (err as Error).message,
    });
    return undefined;
  }
  try {
    const verified = await compactVerify(token, key.alg === "HS256" ? key.secret : key.publicKey, {
      algorithms: [key.alg],
    });
    const claims = JSON.parse(new TextDecoder().decode(verified.payload)) as JWTPayload;
    const clientId = oauth2Settings(provider).client_id;
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    return aud.includes(clientId) ? claims : undefined;
  } catch {
    return undefined;
  }
}
