/**
 * How an OAuth2 provider signs: with its signing key (a certificate-key pair: RS256 for RSA, ES256 for
 * P-256, ES384/ES512 for the larger curves), or — without one — HS256 with the client secret, as
 * authentik does. The public half is published as a JWKS at /application/o/<slug>/jwks/. `jose` is
 * loaded on first use.
 */
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import type { Db } from "../context.ts";
import { getPair } from "../crypto/service.ts";
import type { ProviderRow } from "../providers/base.ts";
import { oauth2Settings } from "../providers/oauth2.ts";

export interface PublicJwk {
  kty: string;
  kid: string;
  alg: string;
  use: "sig";
  [member: string]: unknown;
}

export type SigningKey =
  | { alg: "HS256"; secret: Uint8Array }
  | { alg: "RS256" | "ES256" | "ES384" | "ES512"; privateKey: KeyObject; publicKey: KeyObject; kid: string };

const CURVE_ALGS: Record<string, "ES256" | "ES384" | "ES512"> = {
  prime256v1: "ES256",
  "P-256": "ES256",
  secp384r1: "ES384",
  "P-384": "ES384",
  secp521r1: "ES512",
  "P-521": "ES512",
};

const jose = () => import("jose");

/** The provider's signing key; throws when the pair it names is gone or holds no usable private key. */
export async function signingKey(db: Db, provider: ProviderRow): Promise<SigningKey> {
  const settings = oauth2Settings(provider);
  if (!settings.signing_key)
    return { alg: "HS256", secret: new TextEncoder().encode(settings.client_secret) };
  const pair = await getPair(db, settings.signing_key);
  const publicKey = new X509Certificate(pair.certificate_data).publicKey;
  const privateKey = createPrivateKey(pair.key_data);
  const type = publicKey.asymmetricKeyType;
  const alg =
    type === "rsa"
      ? "RS256"
      : type === "ec"
        ? CURVE_ALGS[String(publicKey.asymmetricKeyDetails?.namedCurve)]
        : undefined;
  if (!alg) throw new Error(`signing keys of type ${type} are not supported for OAuth2 (use RSA or ECDSA)`);
  const { calculateJwkThumbprint, exportJWK } = await jose();
  const kid = await calculateJwkThumbprint(await exportJWK(publicKey));
  return { alg, privateKey, publicKey, kid };
}

/** The provider's JWKS: its signing key's public half (none for HS256, whose key is the client secret). */
export async function jwks(db: Db, provider: ProviderRow): Promise<{ keys: PublicJwk[] }> {
  const key = await signingKey(db, provider);
  if (key.alg === "HS256") return { keys: [] };
  const { exportJWK } = await jose();
  return {
    keys: [{ ...(await exportJWK(key.publicKey)), kid: key.kid, alg: key.alg, use: "sig" } as PublicJwk],
  };
}

/** A signed JWT (JWS compact) with the provider's key; `kid` in the header for asymmetric keys. */
export async function signJwt(key: SigningKey, claims: Record<string, unknown>): Promise<string> {
  const { SignJWT } = await jose();
  const jwt = new SignJWT(claims);
  if (key.alg === "HS256") return jwt.setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key.secret);
  return jwt.setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT" }).sign(key.privateKey);
}

/** For tests and the introspection endpoint: the public key a JWK describes. */
export const publicKeyOf = (jwk: PublicJwk): KeyObject =>
  createPublicKey({ key: jwk as never, format: "jwk" });
