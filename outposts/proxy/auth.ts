/**
 * Who is asking (authentik's auth.go order): the session cookie, then — when the provider intercepts
 * header auth — the Authorization header: a cached answer (60 s, keyed by the header's hash), else a
 * Bearer token checked at the introspection endpoint, else Basic credentials (`goauthentik.io/token`
 * with a token as password, or a username and app password through the client_credentials grant).
 */
import { sha256Hex } from "../../shared/crypto.ts";
import type { Logger } from "../../shared/log.ts";
import { CoreUnavailable } from "../runtime/api.ts";
import type { Application } from "./application.ts";
import type { Identity, ProxyClaims } from "./claims.ts";
import { readCookies } from "./cookie.ts";
import type { ProxyRequest } from "./request.ts";
import { type SessionStore, STALE_GRACE_MS } from "./session.ts";
import { type BackchannelOptions, postForm, type TokenResponse, verifyToken } from "./tokens.ts";
import { TtlCache } from "./ttl-cache.ts";

export const HEADER_TTL_MS = 60_000;
const HEADER_FAILURE_TTL_MS = 5_000;
const TOKEN_USERNAME = "goauthentik.io/token";

export interface AuthDeps {
  sessions: SessionStore;
  headers: TtlCache<Identity | null>;
  /** Header identities the core confirmed in the last `graceMs`, for when it cannot be reached. */
  confirmedHeaders?: TtlCache<Identity>;
  /** How long those pass while the core cannot be reached (STALE_GRACE_MS by default; 0: not at all). */
  graceMs?: number;
  backchannel: BackchannelOptions;
  now: () => number;
  log: Logger;
}

export type AuthResult =
  | { ok: true; identity: Identity; via: "session" | "bearer" | "basic"; cookie?: string }
  | { ok: false };

export function headerCache(now: () => number = Date.now): TtlCache<Identity | null> {
  return new TtlCache(20_000, now);
}

/**
 * Who is asking: at once when the answer is cached (a session or header seen in the last seconds),
 * else a promise (the core, or the provider's token endpoints, are asked).
 */
export function authenticate(
  app: Application,
  request: ProxyRequest,
  deps: AuthDeps,
): AuthResult | Promise<AuthResult> {
  return bySession(app, request, deps, readCookies(request.headers.get("cookie"), app.cookie), 0);
}

/** The session cookies from the `from`th on (a browser may send several), then the Authorization header. */
function bySession(
  app: Application,
  request: ProxyRequest,
  deps: AuthDeps,
  values: string[],
  from: number,
): AuthResult | Promise<AuthResult> {
  for (let i = from; i < values.length; i++) {
    const value = values[i] as string;
    const found = deps.sessions.find(app.config.pk, value);
    if (found instanceof Promise)
      return found.then((identity): AuthResult | Promise<AuthResult> =>
        identity
          ? { ok: true, identity, via: "session", cookie: value }
          : bySession(app, request, deps, values, i + 1),
      );
    if (found) return { ok: true, identity: found, via: "session", cookie: value };
  }
  const header = request.headers.get("authorization");
  if (!app.config.intercept_header_auth || !header) return { ok: false };
  const key = sha256Hex(`${app.config.pk}\0${header}`);
  const cached = deps.headers.get(key);
  const via = /^bearer /i.test(header) ? "bearer" : "basic";
  if (cached !== undefined) {
    if (cached && cached.expires > deps.now() && !deps.sessions.isEnded(cached.sid))
      return { ok: true, identity: cached, via };
    if (cached === null) return { ok: false };
  }
  return byHeader(app, header, key, via, deps);
}

/** An Authorization header not seen in the last minute: checked with the provider. */
async function byHeader(
  app: Application,
  header: string,
  key: string,
  via: "bearer" | "basic",
  deps: AuthDeps,
): Promise<AuthResult> {
  let identity: Identity | undefined;
  try {
    identity = await fromHeader(app, header, deps);
  } catch (err) {
    // The core is away: a credential it confirmed recently still passes (until the token expires);
    // an unknown one is neither accepted nor remembered as refused.
    if (err instanceof CoreUnavailable) {
      const last = deps.confirmedHeaders?.get(key);
      if (last && last.expires > deps.now() && !deps.sessions.isEnded(last.sid))
        return { ok: true, identity: last, via };
      throw err;
    }
    deps.log.warn("header authentication failed", {
      provider: app.config.name,
      error: (err as Error).message,
    });
  }
  deps.headers.set(key, identity ?? null, identity ? HEADER_TTL_MS : HEADER_FAILURE_TTL_MS);
  const graceMs = deps.graceMs ?? STALE_GRACE_MS;
  if (identity && graceMs > 0) deps.confirmedHeaders?.set(key, identity, graceMs);
  return identity ? { ok: true, identity, via } : { ok: false };
}

async function fromHeader(app: Application, header: string, deps: AuthDeps): Promise<Identity | undefined> {
  const [scheme = "", value = ""] = header.trim().split(/\s+/, 2);
  if (scheme.toLowerCase() === "bearer") return bearer(app, value, deps);
  if (scheme.toLowerCase() !== "basic") return undefined;
  const decoded = Buffer.from(value, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  const username = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  if (username === TOKEN_USERNAME) return bearer(app, password, deps);
  return basic(app, username, password, deps);
}

function identityOf(claims: ProxyClaims, token: string, deps: AuthDeps): Identity {
  const exp = typeof claims.exp === "number" ? claims.exp * 1000 : deps.now() + HEADER_TTL_MS;
  return { claims, token, sid: claims.sid ?? null, expires: exp };
}

/** A token the provider issued, live according to introspection; its claims from the JWT itself. */
async function bearer(app: Application, token: string, deps: AuthDeps): Promise<Identity | undefined> {
  if (!token) return undefined;
  const { status, body } = await postForm<{
    active?: boolean;
    sub?: string;
    username?: string;
    exp?: number;
  }>(
    app.backchannel.introspect,
    { token, client_id: app.config.client_id, client_secret: app.config.client_secret },
    deps.backchannel,
  );
  if (status !== 200 || body.active !== true) return undefined;
  // The token may come from the public host (another issuer URL): signature, audience and expiry count.
  const claims = (await verifyToken(app, token, Math.floor(deps.now() / 1000), { checkIssuer: false })) ?? {
    sub: body.sub,
    preferred_username: body.username,
    exp: body.exp,
  };
  return identityOf(claims, token, deps);
}

/** A username and app password (or a service account's token) through client_credentials. */
async function basic(
  app: Application,
  username: string,
  password: string,
  deps: AuthDeps,
): Promise<Identity | undefined> {
  const { status, body } = await postForm<TokenResponse>(
    app.backchannel.token,
    {
      grant_type: "client_credentials",
      client_id: app.config.client_id,
      username,
      password,
      scope: app.config.scopes_to_request.join(" "),
    },
    deps.backchannel,
  );
  if (status !== 200 || !body.id_token || !body.access_token) return undefined;
  const claims = await verifyToken(app, body.id_token, Math.floor(deps.now() / 1000));
  return claims ? identityOf(claims, body.access_token, deps) : undefined;
}
