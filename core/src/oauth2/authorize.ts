/**
 * The authorization endpoint (/application/o/authorize/, RFC 6749 §3.1, OIDC Core §3): validates the
 * request, sends a signed-out user (or `prompt=login`, or a login older than `max_age`) through the
 * brand's authentication flow and back, checks the application's policies, then runs the provider's
 * authorization flow (consent) with a finisher that issues the code and/or tokens and returns the
 * browser to the client by query, fragment or form post.
 *
 * Errors before the redirect URI is known to be the client's are shown to the user and never
 * redirected; after that they go back to the client as RFC 6749 §4.1.2.1 says.
 */
import { randomUUID } from "node:crypto";
import { randomSecret, sha256Hex } from "../../../shared/crypto.ts";
import type { ApplicationRow } from "../applications/service.ts";
import { currentBrand } from "../brands/service.ts";
import type { CoreContext } from "../context.ts";
import { type FinishAnswer, type FinishRun, registerFinisher } from "../flows/executor/finishers.ts";
import { flowSession } from "../flows/executor/session.ts";
import type { ProviderRow } from "../providers/base.ts";
import { oauth2Settings, timedeltaMs } from "../providers/oauth2.ts";
import { toIso } from "../store/codec.ts";
import { autoSubmitPage, messagePage } from "../ui/pages.ts";
import type { UserRow } from "../users/serialize.ts";
import {
  finishingSession,
  planAuthorization,
  recordAuthorization,
  startAuthorization,
} from "./authorization-flow.ts";
import { issuerOf, scopeMappings } from "./claims.ts";
import { providerByClientId } from "./clients.ts";
import { issueTokens } from "./issue.ts";

/** The response types served (OIDC Core §3: code, implicit and hybrid), as sorted word sets. */
export const RESPONSE_TYPES = [
  "code",
  "id_token",
  "id_token token",
  "code token",
  "code id_token",
  "code id_token token",
];
export const RESPONSE_MODES = ["query", "fragment", "form_post"];
const FINISHER_NAME = "oauth2_authorize";

/** The validated request, kept in the authorization flow's plan until it ends. */
export interface AuthorizeRequest {
  provider_id: number;
  application: string;
  redirect_uri: string;
  response_type: string[];
  response_mode: "query" | "fragment" | "form_post";
  scopes: string[];
  state: string | null;
  nonce: string | null;
  code_challenge: string | null;
  code_challenge_method: "S256" | "plain" | null;
}

class ShowError extends Error {
  constructor(
    readonly title: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** An error to send back to the client's redirect URI. */
class RedirectError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
  ) {
    super(description);
  }
}

/** Whether `uri` is one of the provider's redirect URIs (strict: equal; regex: the whole URI matches). */
export function redirectAllowed(provider: ProviderRow, uri: string): boolean {
  return oauth2Settings(provider).redirect_uris.some((r) => {
    if (r.matching_mode === "strict") return r.url === uri;
    try {
      return new RegExp(`^(?:${r.url})$`).test(uri);
    } catch {
      return false;
    }
  });
}

const sortedWords = (value: string) => value.split(/\s+/).filter(Boolean).sort().join(" ");

interface Target {
  redirect_uri: string;
  response_mode: AuthorizeRequest["response_mode"];
  state: string | null;
}

/** Where an answer goes: parameters on the query, in the fragment, or posted by an auto-submitted form. */
export function answerFor(target: Target, params: Record<string, string>): FinishAnswer {
  const fields = { ...params, ...(target.state !== null && { state: target.state }) };
  if (target.response_mode === "form_post")
    return {
      challenge: {
        component: "ak-stage-autosubmit",
        url: target.redirect_uri,
        attrs: fields,
        title: "Redirecting…",
      },
    };
  const url = new URL(target.redirect_uri);
  if (target.response_mode === "fragment") {
    url.hash = new URLSearchParams(fields).toString();
  } else {
    for (const [k, v] of Object.entries(fields)) url.searchParams.set(k, v);
  }
  return { redirect: url.toString() };
}

function toResponse(answer: FinishAnswer): Response {
  if ("redirect" in answer)
    return new Response(null, {
      status: 302,
      headers: { location: answer.redirect, "cache-control": "no-store" },
    });
  const { url, attrs } = answer.challenge as unknown as { url: string; attrs: Record<string, string> };
  return autoSubmitPage(url, attrs);
}

/** The request's parameters: the query (GET) or the form body (POST, OIDC Core §3.1.2.1). */
async function authorizeParams(request: Request): Promise<URLSearchParams> {
  if (request.method !== "POST") return new URL(request.url).searchParams;
  const type = request.headers.get("content-type") ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded"))
    throw new ShowError("Invalid request", "The authorization request must be a form or a query.");
  return new URLSearchParams(await request.text());
}

/** The client and its redirect URI: any problem here is shown, not redirected (RFC 6749 §4.1.2.1). */
async function clientAndRedirect(ctx: CoreContext, params: URLSearchParams) {
  const clientId = params.get("client_id");
  if (!clientId)
    throw new ShowError("Invalid request", "The request names no client (client_id is missing).");
  const provider = await providerByClientId(ctx, clientId);
  const app =
    provider &&
    (await ctx.store.db
      .selectFrom("applications")
      .selectAll()
      .where("provider", "=", provider.id)
      .executeTakeFirst());
  if (!provider || !app)
    throw new ShowError("Invalid client", "No application is set up for this client identifier.");
  let redirectUri = params.get("redirect_uri");
  if (redirectUri === null) {
    // RFC 6749 §3.1.2.3: optional when exactly one (strict) redirect URI is registered.
    const registered = oauth2Settings(provider).redirect_uris;
    if (registered.length === 1 && registered[0]?.matching_mode === "strict") redirectUri = registered[0].url;
    else throw new ShowError("Redirect URI Error", "The request names no redirect_uri.");
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(redirectUri);
  } catch {
    parsed = undefined;
  }
  if (!parsed || parsed.hash || !redirectAllowed(provider, redirectUri))
    throw new ShowError(
      "Redirect URI Error",
      "The redirect URI this application sent is not one registered for it. Nothing was sent to it.",
    );
  return { provider, app, redirectUri };
}

interface Checked {
  provider: ProviderRow;
  app: ApplicationRow;
  authorize: AuthorizeRequest;
  prompt: Set<string>;
  maxAge: number | undefined;
}

/** Validates everything after the redirect URI; errors here go back to the client. */
async function checkRequest(
  ctx: CoreContext,
  params: URLSearchParams,
  provider: ProviderRow,
  app: ApplicationRow,
  target: Target,
): Promise<Checked> {
  const settings = oauth2Settings(provider);
  const responseType = params.get("response_type");
  if (!responseType) throw new RedirectError("invalid_request", "response_type is missing");
  const type = sortedWords(responseType);
  if (!RESPONSE_TYPES.map(sortedWords).includes(type))
    throw new RedirectError("unsupported_response_type", `response_type ${responseType} is not supported`);
  const types = type.split(" ");
  const implicit = types.includes("token") || types.includes("id_token");
  const mode = params.get("response_mode");
  if (mode !== null) {
    if (!RESPONSE_MODES.includes(mode))
      throw new RedirectError("invalid_request", `response_mode ${mode} is not supported`);
    // Tokens never travel in a query string (OAuth 2.0 Multiple Response Types §5).
    if (mode === "query" && implicit)
      throw new RedirectError("invalid_request", "response_mode query cannot carry tokens");
    target.response_mode = mode as Target["response_mode"];
  }

  const offered = new Set((await scopeMappings(ctx, provider)).map((m) => m.scope_name ?? ""));
  offered.add("openid");
  // As authentik: scopes the provider has no mapping for are dropped, not refused.
  const scopes = [...new Set((params.get("scope") ?? "").split(/\s+/).filter((s) => offered.has(s)))];
  if (types.includes("id_token") && !scopes.includes("openid"))
    throw new RedirectError("invalid_scope", "an id_token needs the openid scope");
  const nonce = params.get("nonce");
  if (types.includes("id_token") && !nonce)
    throw new RedirectError("invalid_request", "nonce is required when an id_token is returned from here");

  const challenge = params.get("code_challenge");
  let method = params.get("code_challenge_method");
  if (challenge !== null) {
    method ??= "plain";
    if (method !== "S256" && method !== "plain")
      throw new RedirectError("invalid_request", `code_challenge_method ${method} is not supported`);
    if (method === "plain" && !ctx.config["oauth2.pkce_plain"])
      throw new RedirectError("invalid_request", "code_challenge_method must be S256");
    const shape = method === "S256" ? /^[A-Za-z0-9_-]{43}$/ : /^[A-Za-z0-9._~-]{43,128}$/;
    if (!shape.test(challenge)) throw new RedirectError("invalid_request", "code_challenge is malformed");
  } else if (method !== null) {
    throw new RedirectError("invalid_request", "code_challenge_method without code_challenge");
  } else if (settings.client_type === "public" && types.includes("code")) {
    throw new RedirectError(
      "invalid_request",
      "PKCE (code_challenge with S256) is required for public clients",
    );
  }

  const prompt = new Set((params.get("prompt") ?? "").split(/\s+/).filter(Boolean));
  for (const p of prompt)
    if (!["none", "login", "consent", "select_account"].includes(p))
      throw new RedirectError("invalid_request", `prompt ${p} is not supported`);
  if (prompt.has("none") && prompt.size > 1)
    throw new RedirectError("invalid_request", "prompt=none cannot be combined with other values");
  const maxAgeRaw = params.get("max_age");
  if (maxAgeRaw !== null && !/^\d{1,10}$/.test(maxAgeRaw))
    throw new RedirectError("invalid_request", "max_age must be a number of seconds");

  return {
    provider,
    app,
    prompt,
    maxAge: maxAgeRaw === null ? undefined : Number(maxAgeRaw),
    authorize: {
      provider_id: provider.id,
      application: app.slug,
      redirect_uri: target.redirect_uri,
      response_type: types,
      response_mode: target.response_mode,
      scopes,
      state: target.state,
      nonce,
      code_challenge: challenge,
      code_challenge_method: challenge === null ? null : (method as "S256" | "plain"),
    },
  };
}

/** This request again as a GET URL, without what must not repeat after the user signs in. */
function continueUrl(params: URLSearchParams): string {
  const again = new URLSearchParams(params);
  const prompt = (again.get("prompt") ?? "").split(/\s+/).filter((p) => p && p !== "login");
  if (prompt.length) again.set("prompt", prompt.join(" "));
  else again.delete("prompt");
  return `/application/o/authorize/?${again.toString()}`;
}

export async function authorizeEndpoint(ctx: CoreContext, request: Request): Promise<Response> {
  const brand = await currentBrand(ctx.store.db, request.headers.get("host") ?? new URL(request.url).host);
  let target: Target | undefined;
  try {
    const params = await authorizeParams(request);
    const { provider, app, redirectUri } = await clientAndRedirect(ctx, params);
    const implicitDefault = /\b(token|id_token)\b/.test(params.get("response_type") ?? "");
    target = {
      redirect_uri: redirectUri,
      response_mode: implicitDefault ? "fragment" : "query",
      state: params.get("state"),
    };
    const checked = await checkRequest(ctx, params, provider, app, target);
    const session = await flowSession(ctx, request);
    const signedIn = session.signedInAt;
    const tooOld =
      signedIn !== undefined &&
      checked.maxAge !== undefined &&
      ctx.clock().getTime() - signedIn.getTime() > checked.maxAge * 1000;
    if (!session.user || checked.prompt.has("login") || tooOld) {
      if (checked.prompt.has("none")) throw new RedirectError("login_required", "the user is not signed in");
      const flow = brand.flow_authentication || "default-authentication-flow";
      const next = encodeURIComponent(continueUrl(params));
      return new Response(null, {
        status: 302,
        headers: {
          location: `/if/flow/${encodeURIComponent(flow)}/?next=${next}`,
          "cache-control": "no-store",
        },
      });
    }
    return await startAuthorizationFlow(ctx, request, session.id, session.user, checked);
  } catch (err) {
    if (err instanceof ShowError) return messagePage(brand, err.title, err.message, err.status);
    if (err instanceof RedirectError && target)
      return toResponse(answerFor(target, { error: err.error, error_description: err.description }));
    throw err;
  }
}

/** Checks the application's policies and plans the provider's authorization flow for this session. */
async function startAuthorizationFlow(
  ctx: CoreContext,
  request: Request,
  sessionId: string,
  user: UserRow,
  checked: Checked,
): Promise<Response> {
  const { provider, app, authorize, prompt } = checked;
  const planned = await planAuthorization(ctx, request, {
    provider,
    app,
    user,
    scopes: authorize.scopes,
    finisher: FINISHER_NAME,
    context: {
      consent_force: prompt.has("consent"),
      prompt_none: prompt.has("none"),
      oauth2_authorize: authorize,
    },
  });
  if (!planned)
    throw new ShowError("Configuration error", "This application has no authorization flow.", 500);
  if (planned.denied !== undefined && prompt.has("none"))
    throw new RedirectError("access_denied", planned.denied);
  return new Response(null, {
    status: 302,
    headers: { location: await startAuthorization(ctx, sessionId, planned), "cache-control": "no-store" },
  });
}

/** Ends the authorization flow: issues what the response type asks for and answers the client. */
async function fulfil(run: FinishRun): Promise<FinishAnswer> {
  const { ctx } = run;
  const authorize = run.plan.context.oauth2_authorize as AuthorizeRequest;
  const session = await finishingSession(run);
  if (!session) return answerFor(authorize, { error: "login_required", error_description: "signed out" });
  const { user, hash: session_hash } = session;
  const amr = session.amr ? session.amr.split(" ") : undefined;
  const provider = await ctx.store.db
    .selectFrom("providers")
    .selectAll()
    .where("id", "=", authorize.provider_id)
    .executeTakeFirst();
  if (!provider)
    return answerFor(authorize, { error: "server_error", error_description: "the provider is gone" });
  const settings = oauth2Settings(provider);
  const now = ctx.clock();
  const authSeconds = Math.floor(new Date(toIso(session.created)).getTime() / 1000);
  const family = randomUUID();
  const params: Record<string, string> = {};
  let code: string | undefined;
  if (authorize.response_type.includes("code")) {
    code = randomSecret(32);
    const validity = timedeltaMs(settings.access_code_validity) ?? 60_000;
    await ctx.store.db
      .insertInto("oauth2_codes")
      .values({
        code_hash: sha256Hex(code),
        provider_id: provider.id,
        user_id: user.id,
        family,
        session_hash,
        redirect_uri: authorize.redirect_uri,
        scope: authorize.scopes.join(" "),
        nonce: authorize.nonce,
        code_challenge: authorize.code_challenge,
        code_challenge_method: authorize.code_challenge_method,
        amr: session.amr,
        auth_time: new Date(authSeconds * 1000).toISOString(),
        created: now.toISOString(),
        expires: new Date(now.getTime() + validity).toISOString(),
        used: false,
      })
      .execute();
    params.code = code;
  }
  const wantsToken = authorize.response_type.includes("token");
  const wantsIdToken = authorize.response_type.includes("id_token");
  if (wantsToken || wantsIdToken) {
    const issued = await issueTokens(ctx, {
      provider,
      mappings: await scopeMappings(ctx, provider),
      user,
      scopes: authorize.scopes,
      issuer: await issuerOf(ctx, new URL(run.http.origin).origin, provider),
      authTime: authSeconds,
      nonce: authorize.nonce,
      sessionHash: session_hash,
      family,
      amr,
      access: wantsToken,
      idToken: wantsIdToken,
      code,
    });
    if (issued.access_token) {
      params.access_token = issued.access_token;
      params.token_type = "Bearer";
      params.expires_in = String(issued.expires_in);
    }
    if (issued.id_token) params.id_token = issued.id_token;
  }
  await recordAuthorization(run, user, authorize.scopes);
  return answerFor(authorize, params);
}

registerFinisher(FINISHER_NAME, {
  finish: fulfil,
  async interrupted(run, stageKind) {
    // prompt=none: the flow may not ask anything; consent is the usual question (OIDC Core §3.1.2.6).
    if (run.plan.context.prompt_none !== true) return undefined;
    const authorize = run.plan.context.oauth2_authorize as AuthorizeRequest;
    return stageKind === "consentstage"
      ? answerFor(authorize, { error: "consent_required", error_description: "consent is needed" })
      : answerFor(authorize, { error: "interaction_required", error_description: "the flow needs input" });
  },
});
