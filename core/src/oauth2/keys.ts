/**
 * How an OAuth2 provider signs: with its signing key (a certificate-key pair: RS256 for RSA, ES256 for
 * P-256, ES384/ES512 for the larger curves), or — without one — HS256 with the client secret, as
 * authentik does. The public half is published as a JWKS at /application/o/<slug>/jwks/. `jose` is
 * loaded on first use.
 */
import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign,
  X509Certificate,
} from "node:crypto";
import type { CoreContext, Db } from "../context.ts";
import { getPair, type PairRow } from "../crypto/service.ts";
import type { ProviderRow } from "../providers/base.ts";
import { oauth2Settings } from "../providers/oauth2.ts";
import { oauth2Cache } from "./cache.ts";

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

let joseModule: Promise<typeof import("jose")> | undefined;
const jose = () => (joseModule ??= import("jose"));

/** The provider's signing key; throws when the pair it names is gone or holds no usable private key. */
export async function signingKey(db: Db, provider: ProviderRow): Promise<SigningKey> {
  const settings = oauth2Settings(provider);
  if (!settings.signing_key)
    return { alg: "HS256", secret: new TextEncoder().encode(settings.client_secret) };
  return parsedPair(await getPair(db, settings.signing_key));
}

/**
 * The provider's signing key from the OAuth2 cache (see cache.ts): what the token and discovery
 * endpoints use, so a request reads no pair and parses no PEM.
 */
export function cachedSigningKey(ctx: CoreContext, provider: ProviderRow): Promise<SigningKey> {
  const pair = oauth2Settings(provider).signing_key;
  if (!pair) return signingKey(ctx.store.db, provider);
  return oauth2Cache(ctx).get(`signing-key:${pair}`, () => signingKey(ctx.store.db, provider));
}

/** Parsed pairs by uuid, with the PEM they were parsed from: a changed pair is parsed again. */
const parsed = new Map<string, { certificate: string; key: string; signing: Promise<SigningKey> }>();
const MAX_PARSED = 1_000;

function parsedPair(pair: PairRow): Promise<SigningKey> {
  const kept = parsed.get(pair.kp_uuid);
  if (kept && kept.certificate === pair.certificate_data && kept.key === pair.key_data) return kept.signing;
  const signing = parsePair(pair);
  if (parsed.size >= MAX_PARSED) parsed.clear();
  parsed.set(pair.kp_uuid, { certificate: pair.certificate_data, key: pair.key_data, signing });
  signing.catch(() => parsed.delete(pair.kp_uuid));
  return signing;
}

async function parsePair(pair: PairRow): Promise<SigningKey> {
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

/**
 * A signed JWT (JWS compact, RFC 7515) with the provider's key; `kid` in the header for asymmetric keys.
 * Signed with node:crypto directly: synchronous, with the parsed key, no per-call conversion or copy.
 */
export async function signJwt(key: SigningKey, claims: Record<string, unknown>): Promise<string> {
  const header =
    key.alg === "HS256" ? { alg: "HS256", typ: "JWT" } : { alg: key.alg, kid: key.kid, typ: "JWT" };
  const input = `${base64url(header)}.${base64url(claims)}`;
  const signature =
    key.alg === "HS256"
      ? createHmac("sha256", key.secret).update(input).digest()
      : sign(HASHES[key.alg], Buffer.from(input), {
          key: key.privateKey,
          // JWS wants ECDSA signatures as r‖s (RFC 7518 §3.4), not DER.
          ...(key.alg !== "RS256" && { dsaEncoding: "ieee-p1363" as const }),
        });
  return `${input}.${signature.toString("base64url")}`;
}

const HASHES = { RS256: "sha256", ES256: "sha256", ES384: "sha384", ES512: "sha512" } as const;
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** For tests and the introspection endpoint: the public key a JWK describes. */
export const publicKeyOf = (jwk: PublicJwk): KeyObject =>
  createPublicKey({ key: jwk as never, format: "jwk" });
