/**
 * Checking the core's tokens and talking to its token and introspection endpoints with the provider's
 * client credentials. Proxy providers have no signing key, so their tokens are HS256 with the client
 * secret; a provider whose discovery says otherwise is checked against its JWKS.
 */
import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify } from "jose";
import { VERSION } from "../../shared/version.ts";
import { CoreUnavailable } from "../runtime/api.ts";
import type { Application } from "./application.ts";
import type { ProxyClaims } from "./claims.ts";

const jwksCache = new WeakMap<Application, JWTVerifyGetKey>();

function keyFor(app: Application): Uint8Array | JWTVerifyGetKey {
  const algs = app.oidc.id_token_signing_alg_values_supported ?? ["HS256"];
  if (algs.includes("HS256")) return app.clientKey;
  let set = jwksCache.get(app);
  if (!set) {
    set = createRemoteJWKSet(new URL(app.backchannel.jwks));
    jwksCache.set(app, set);
  }
  return set;
}

/** The claims of a token the core issued to this provider (signature, issuer, audience, expiry). */
export async function verifyToken(
  app: Application,
  jwt: string,
  nowS: number,
  options: { checkIssuer?: boolean } = {},
): Promise<ProxyClaims | undefined> {
  try {
    const key = keyFor(app);
    const verifyOptions = {
      audience: app.config.client_id,
      currentDate: new Date(nowS * 1000),
      ...(options.checkIssuer !== false && { issuer: app.oidc.issuer }),
    };
    const { payload } =
      key instanceof Uint8Array
        ? await jwtVerify(jwt, key, { ...verifyOptions, algorithms: ["HS256"] })
        : await jwtVerify(jwt, key, verifyOptions);
    if (typeof payload.exp !== "number") return undefined;
    return payload as ProxyClaims;
  } catch {
    return undefined;
  }
}

export interface TokenResponse {
  access_token?: string;
  id_token?: string;
  expires_in?: number;
  error?: string;
  error_description?: string;
}

export interface BackchannelOptions {
  insecure: boolean;
  timeoutMs?: number;
}

/** A form POST to one of the core's OAuth2 endpoints as the provider's client. */
export async function postForm<T>(
  url: string,
  form: Record<string, string>,
  options: BackchannelOptions,
): Promise<{ status: number; body: T }> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
        "user-agent": `goauthentik.io/outpost/${VERSION}`,
      },
      body: new URLSearchParams(form),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      ...(options.insecure && { tls: { rejectUnauthorized: false } }),
    });
  } catch (err) {
    throw new CoreUnavailable(`cannot reach ${new URL(url).host}: ${(err as Error).message}`, err);
  }
  if (res.status >= 500) throw new CoreUnavailable(`${new URL(url).pathname} answered ${res.status}`);
  let body: T;
  try {
    body = (await res.json()) as T;
  } catch {
    body = {} as T;
  }
  return { status: res.status, body };
}
