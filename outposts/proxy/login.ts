/**
 * The browser login through the core (authentik's oauth_*.go): /start sends the browser to the
 * authorization endpoint with a signed state and a PKCE challenge, /callback redeems the code, checks the
 * token, registers the session with the core and sets a fresh cookie; /sign_out ends it.
 */
import { randomSecret } from "../../shared/crypto.ts";
import { CoreUnavailable, Rejected } from "../runtime/api.ts";
import type { Application } from "./application.ts";
import type { AuthDeps } from "./auth.ts";
import { readCookies, serializeCookie } from "./cookie.ts";
import { errorPage, redirect } from "./pages.ts";
import { redirectTarget } from "./redirect.ts";
import type { ProxyRequest } from "./request.ts";
import {
  pkceChallenge,
  pkceVerifier,
  preSessionId,
  STATE_LIFETIME_S,
  signState,
  verifyState,
} from "./state.ts";
import { postForm, type TokenResponse, verifyToken } from "./tokens.ts";

const cookieFor = (app: Application, value: string, maxAge: number) =>
  serializeCookie(app.cookie, value, {
    secure: app.secure,
    maxAge,
    ...(app.config.cookie_domain && { domain: app.config.cookie_domain }),
  });

/** A redirect to the core's authorization endpoint, binding the state to this browser. */
export async function startLogin(
  app: Application,
  request: ProxyRequest,
  rd: string | null,
  deps: AuthDeps,
  status = 302,
): Promise<Response> {
  const existing = readCookies(request.headers.get("cookie"), app.cookie)[0];
  const pre = existing ?? randomSecret(32);
  const sid = preSessionId(app.cookieKey, pre);
  const nowS = Math.floor(deps.now() / 1000);
  const { jwt, state } = await signState(
    app.cookieKey,
    app.config.client_id,
    sid,
    redirectTarget(app, rd),
    nowS,
  );
  const query = new URLSearchParams({
    client_id: app.config.client_id,
    redirect_uri: app.redirectUri,
    response_type: "code",
    scope: app.config.scopes_to_request.join(" "),
    state: jwt,
    code_challenge: pkceChallenge(pkceVerifier(app.cookieKey, sid, state)),
    code_challenge_method: "S256",
  });
  const sep = app.browser.authorize.includes("?") ? "&" : "?";
  return redirect(
    `${app.browser.authorize}${sep}${query}`,
    status,
    existing ? [] : [["set-cookie", cookieFor(app, pre, STATE_LIFETIME_S)]],
  );
}

export async function callback(app: Application, request: ProxyRequest, deps: AuthDeps): Promise<Response> {
  const url = new URL(request.url);
  const error = url.searchParams.get("error");
  if (error)
    return errorPage(
      403,
      "Sign-in refused",
      `The identity provider refused the sign-in (${error.slice(0, 100)}).`,
    );
  const code = url.searchParams.get("code");
  const stateJwt = url.searchParams.get("state");
  if (!code || !stateJwt) return errorPage(400, "Bad request", "The callback has no code or state.");
  const pre = readCookies(request.headers.get("cookie"), app.cookie)[0];
  const sid = pre ? preSessionId(app.cookieKey, pre) : undefined;
  const nowS = Math.floor(deps.now() / 1000);
  const state = await verifyState(app.cookieKey, app.config.client_id, stateJwt, sid, nowS);
  if (!state.ok) {
    deps.log.info("callback refused", { provider: app.config.name, reason: state.reason });
    return errorPage(400, "Sign-in failed", `${state.reason}; please start again.`);
  }
  let tokens: { status: number; body: TokenResponse };
  try {
    tokens = await postForm<TokenResponse>(
      app.backchannel.token,
      {
        grant_type: "authorization_code",
        code,
        redirect_uri: app.redirectUri,
        client_id: app.config.client_id,
        client_secret: app.config.client_secret,
        code_verifier: pkceVerifier(app.cookieKey, state.claims.sid, state.claims.state),
      },
      deps.backchannel,
    );
  } catch (err) {
    deps.log.warn("the token endpoint cannot be reached", { error: (err as Error).message });
    return errorPage(502, "Sign-in failed", "The identity provider cannot be reached; try again later.");
  }
  const accessToken = tokens.body.access_token;
  if (tokens.status !== 200 || !accessToken) {
    deps.log.info("code exchange refused", { provider: app.config.name, error: tokens.body.error });
    return errorPage(400, "Sign-in failed", "The sign-in code was refused; please start again.");
  }
  const claims = await verifyToken(app, accessToken, nowS);
  if (!claims?.exp) {
    deps.log.warn("the core's access token does not verify", { provider: app.config.name });
    return errorPage(502, "Sign-in failed", "The identity provider's token could not be verified.");
  }
  const value = randomSecret(32);
  try {
    await deps.sessions.create(app.config.pk, value, accessToken);
  } catch (err) {
    deps.log.warn("the core did not take the session", {
      provider: app.config.name,
      error: (err as Error).message,
    });
    if (err instanceof Rejected) return errorPage(400, "Sign-in failed", "The session was refused.");
    if (err instanceof CoreUnavailable)
      return errorPage(503, "Sign-in failed", "The identity provider cannot be reached; try again later.");
    return errorPage(502, "Sign-in failed", "The session could not be registered.");
  }
  // The pre-session value is dropped (a fresh value after login: no session fixation).
  if (pre) void deps.sessions.remove(pre).catch(() => {});
  return redirect(redirectTarget(app, state.claims.redirect), 302, [
    ["set-cookie", cookieFor(app, value, claims.exp - nowS)],
  ]);
}

export async function signOut(app: Application, request: ProxyRequest, deps: AuthDeps): Promise<Response> {
  for (const value of readCookies(request.headers.get("cookie"), app.cookie)) {
    try {
      await deps.sessions.remove(value);
    } catch (err) {
      deps.log.warn("the core did not end the session", { error: (err as Error).message });
    }
  }
  return redirect(app.browser.endSession, 302, [["set-cookie", cookieFor(app, "", 0)]]);
}
