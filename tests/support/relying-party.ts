/**
 * A tiny OpenID Connect relying party on Bun.serve, built on openid-client (a certified client): `/login`
 * sends the browser to the provider with PKCE (S256), state and nonce (passing on `response_mode` and
 * `prompt` from its own query); `/callback` (GET, or POST for
 * response_mode=form_post) exchanges the code, checks the ID token's signature against the provider's
 * JWKS, fetches userinfo and shows the claims as JSON in the page.
 */
import * as oidc from "openid-client";

export interface RelyingPartyClient {
  /** The provider's issuer, e.g. http://127.0.0.1:1234/application/o/wiki/. */
  issuer: string;
  client_id: string;
  client_secret: string;
}

export interface RelyingParty {
  /** This app's origin; `localhost`, so it is another site than the provider on 127.0.0.1. */
  url: string;
  callback: string;
  /** Names the client to sign in with; before this, /login answers 503. */
  use(client: RelyingPartyClient): void;
  stop(): Promise<void>;
}

interface Pending {
  verifier: string;
  state: string;
  nonce: string;
}

const COOKIE = "rp_login";

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function htmlPage(title: string, body: string, status = 200): Response {
  return new Response(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>${body}</body></html>`,
    { status, headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" } },
  );
}

const cookieOf = (request: Request) =>
  /(?:^|;\s*)rp_login=([^;]+)/.exec(request.headers.get("cookie") ?? "")?.[1];

export function startRelyingParty(): RelyingParty {
  let client: RelyingPartyClient | undefined;
  let config: Promise<oidc.Configuration> | undefined;
  const pending = new Map<string, Pending>();

  const configuration = (c: RelyingPartyClient) => {
    config ??= oidc.discovery(
      new URL(c.issuer),
      c.client_id,
      c.client_secret,
      oidc.ClientSecretBasic(c.client_secret),
      // Plain http in tests; verify the ID token's JWS against the JWKS, not only its claims.
      { execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks] },
    );
    return config;
  };

  async function login(url: URL, client: RelyingPartyClient): Promise<Response> {
    const login: Pending = {
      verifier: oidc.randomPKCECodeVerifier(),
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
    };
    const id = crypto.randomUUID();
    pending.set(id, login);
    const params: Record<string, string> = {
      redirect_uri: `${url.origin}/callback`,
      scope: url.searchParams.get("scope") ?? "openid email profile",
      code_challenge: await oidc.calculatePKCECodeChallenge(login.verifier),
      code_challenge_method: "S256",
      state: login.state,
      nonce: login.nonce,
    };
    for (const name of ["response_mode", "prompt"]) {
      const value = url.searchParams.get(name);
      if (value) params[name] = value;
    }
    const to = oidc.buildAuthorizationUrl(await configuration(client), params);
    // A form post from the provider is a cross-site POST: only a SameSite=None cookie comes along.
    return new Response(null, {
      status: 302,
      headers: {
        location: to.href,
        "set-cookie": `${COOKIE}=${id}; Path=/; HttpOnly; Secure; SameSite=None`,
      },
    });
  }

  async function callback(request: Request, client: RelyingPartyClient): Promise<Response> {
    const id = cookieOf(request);
    const login = id ? pending.get(id) : undefined;
    if (!id || !login) return htmlPage("Error", `<p data-testid="error">no login in progress</p>`, 400);
    pending.delete(id);
    const c = await configuration(client);
    try {
      const tokens = await oidc.authorizationCodeGrant(c, request, {
        pkceCodeVerifier: login.verifier,
        expectedState: login.state,
        expectedNonce: login.nonce,
      });
      const idToken = tokens.claims();
      if (!idToken) throw new Error("no ID token");
      const userinfo = await oidc.fetchUserInfo(c, tokens.access_token, idToken.sub);
      const shown = { method: request.method, id_token: idToken, userinfo };
      return htmlPage(
        "Signed in",
        `<h1>Signed in as ${escapeHtml(String(userinfo.preferred_username ?? idToken.sub))}</h1>
<pre data-testid="claims">${escapeHtml(JSON.stringify(shown, null, 2))}</pre>`,
      );
    } catch (err) {
      const e = err as Error & { error?: string; error_description?: string };
      const text = e.error ? `${e.error}: ${e.error_description ?? ""}` : `${e.name}: ${e.message}`;
      return htmlPage("Error", `<p data-testid="error">${escapeHtml(text)}</p>`, 400);
    }
  }

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url);
      if (!client) return new Response("no client configured", { status: 503 });
      if (url.pathname === "/login" && request.method === "GET") return login(url, client);
      if (url.pathname === "/callback" && (request.method === "GET" || request.method === "POST"))
        return callback(request, client);
      return new Response("not found", { status: 404 });
    },
  });
  const url = `http://localhost:${server.port}`;
  return {
    url,
    callback: `${url}/callback`,
    use(next) {
      client = next;
      config = undefined;
    },
    stop: () => server.stop(true),
  };
}
