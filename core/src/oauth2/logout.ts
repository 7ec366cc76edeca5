/**
 * RP-initiated logout (OIDC RP-Initiated Logout 1.0) at /application/o/<slug>/end-session/: checks
 * `id_token_hint`, `client_id` and `post_logout_redirect_uri`, then runs the provider's invalidation
 * flow for the browser's session with a finisher that revokes the tokens this provider issued to the
 * session and returns the browser to the client (with `state`) or says the user is signed out of it.
 * Whether the whole IdP session ends is the flow's business: a user-logout stage ends it, and with it
 * every application's tokens (backchannel.ts).
 *
 * Problems are shown to the user and never redirected: a post-logout URI is only used once it is
 * known to be one of the client's.
 */
import { sha256Hex } from "../../../shared/crypto.ts";
import { requestMeta } from "../api/request.ts";
import { currentBrand } from "../brands/service.ts";
import type { CoreContext } from "../context.ts";
import { formatTitle, withFlowInfo } from "../flows/executor/challenges.ts";
import {
  FINISHER,
  type FinishAnswer,
  type FinishRun,
  registerFinisher,
} from "../flows/executor/finishers.ts";
import { planFlow } from "../flows/executor/planner.ts";
import { callerFacts, flowSession } from "../flows/executor/session.ts";
import { savePlan } from "../flows/executor/state.ts";
import { OAUTH2_CLIENT_KINDS, type ProviderRow } from "../providers/base.ts";
import { oauth2Settings } from "../providers/oauth2.ts";
import type { Challenge, FlowPlan, FlowRow } from "../stages/types.ts";
import { messagePage } from "../ui/pages.ts";
import { initialsAvatar } from "../users/serialize.ts";
import { redirectAllowed } from "./authorize.ts";
import { type FrontchannelLogout, frontchannelLogoutUrls } from "./frontchannel.ts";
import { verifyIdTokenHint } from "./id-token-hint.ts";

const FINISHER_NAME = "oauth2_end_session";

/** The validated request, kept in the invalidation flow's plan until it ends. */
export interface EndSessionRequest {
  provider_id: number;
  /** The browser session the logout is for (its stored hash): a user-logout stage replaces the id. */
  session_hash: string;
  /** The client's post-logout URI with `state`, or null to show that the user is signed out. */
  redirect: string | null;
  application: { pk: string; slug: string; name: string; launch_url: string };
  /** The brand's invalidation flow, offered to sign out of everything. */
  invalidation_flow: string;
  brand_name: string;
  /** Who is signing out (the session may be gone by the time the flow ends). */
  username: string;
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

/** The request's parameters: the query (GET) or the form body (POST, RP-Initiated Logout §2). */
async function endSessionParams(request: Request): Promise<URLSearchParams> {
  if (request.method !== "POST") return new URL(request.url).searchParams;
  const type = request.headers.get("content-type") ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded"))
    throw new ShowError("Invalid request", "The logout request must be a form or a query.");
  return new URLSearchParams(await request.text());
}

async function applicationAndProvider(ctx: CoreContext, slug: string) {
  const app = await ctx.store.db
    .selectFrom("applications")
    .selectAll()
    .where("slug", "=", slug)
    .executeTakeFirst();
  const provider =
    app?.provider != null
      ? await ctx.store.db
          .selectFrom("providers")
          .selectAll()
          .where("id", "=", app.provider)
          .where("kind", "in", OAUTH2_CLIENT_KINDS)
          .executeTakeFirst()
      : undefined;
  if (!app || !provider) throw new ShowError("Not found", "No OAuth2 application has this address.", 404);
  return { app, provider };
}

/** The post-logout URI with `state`, when it is one of the client's redirect URIs; null when none. */
function postLogoutRedirect(provider: ProviderRow, params: URLSearchParams): string | null {
  const uri = params.get("post_logout_redirect_uri");
  if (!uri) return null;
  let parsed: URL | undefined;
  try {
    parsed = new URL(uri);
  } catch {
    parsed = undefined;
  }
  if (!parsed || parsed.hash || !/^https?:$/.test(parsed.protocol) || !redirectAllowed(provider, uri))
    throw new ShowError(
      "Redirect URI Error",
      "The address this application asked to return to after logout is not one registered for it.",
    );
  const state = params.get("state");
  if (state !== null) parsed.searchParams.set("state", state);
  return parsed.toString();
}

/** Revokes the tokens a provider issued to one browser session (this application's part of it). */
export async function revokeProviderSession(
  ctx: CoreContext,
  providerId: number,
  sessionHash: string,
): Promise<number> {
  const result = await ctx.store.db
    .updateTable("oauth2_tokens")
    .set({ revoked: true })
    .where("provider_id", "=", providerId)
    .where("session_hash", "=", sessionHash)
    .where("revoked", "=", false)
    .executeTakeFirst();
  return Number(result.numUpdatedRows ?? 0);
}

async function invalidationFlow(ctx: CoreContext, provider: ProviderRow, brandFlow: string) {
  const byUuid = provider.invalidation_flow
    ? await ctx.store.db
        .selectFrom("flows")
        .selectAll()
        .where("flow_uuid", "=", provider.invalidation_flow)
        .executeTakeFirst()
    : undefined;
  // As authentik: the provider's invalidation flow, else the brand's.
  const flow =
    byUuid ??
    (brandFlow
      ? await ctx.store.db.selectFrom("flows").selectAll().where("slug", "=", brandFlow).executeTakeFirst()
      : undefined);
  if (!flow) throw new ShowError("Configuration error", "This application has no invalidation flow.", 500);
  return flow;
}

const redirectTo = (location: string) =>
  new Response(null, { status: 302, headers: { location, "cache-control": "no-store" } });

export async function endSessionEndpoint(
  ctx: CoreContext,
  request: Request,
  slug: string,
): Promise<Response> {
  const brand = await currentBrand(ctx.store.db, request.headers.get("host") ?? new URL(request.url).host);
  try {
    const params = await endSessionParams(request);
    const { app, provider } = await applicationAndProvider(ctx, slug);
    const settings = oauth2Settings(provider);
    const clientId = params.get("client_id");
    if (clientId !== null && clientId !== settings.client_id)
      throw new ShowError("Invalid request", "The client_id does not belong to this application.");
    const hintRaw = params.get("id_token_hint");
    const hint = hintRaw ? await verifyIdTokenHint(ctx, provider, hintRaw) : undefined;
    if (hintRaw && !hint)
      throw new ShowError(
        "Invalid request",
        "The id_token_hint is not an ID token this application was issued.",
      );
    const redirect = postLogoutRedirect(provider, params);

    const session = await flowSession(ctx, request);
    if (!session.user) {
      // Nothing to sign out of here; the tokens of the session the hint names go all the same.
      if (typeof hint?.sid === "string") await revokeProviderSession(ctx, provider.id, hint.sid);
      if (redirect) return redirectTo(redirect);
      return messagePage(brand, "Signed out", `You are signed out of ${app.name}.`, 200);
    }
    const flow = await invalidationFlow(ctx, provider, brand.flow_invalidation);
    const { http, isOutpost } = await callerFacts(ctx, request, requestMeta(request));
    const endSession: EndSessionRequest = {
      provider_id: provider.id,
      session_hash: sha256Hex(session.id),
      redirect,
      application: { pk: app.app_uuid, slug: app.slug, name: app.name, launch_url: app.meta_launch_url },
      invalidation_flow: brand.flow_invalidation || "default-invalidation-flow",
      brand_name: brand.branding_title,
      username: session.user.username,
    };
    const context = {
      query: "",
      is_outpost: isOutpost,
      application: { pk: app.app_uuid, slug: app.slug, name: app.name },
      oauth2_end_session: endSession,
      [FINISHER]: FINISHER_NAME,
    };
    const planned = await planFlow(ctx, flow, session.user, http, context);
    const plan: FlowPlan =
      "plan" in planned
        ? planned.plan
        : {
            flow: flow.flow_uuid,
            bindings: [],
            index: 0,
            context: { ...context, deny_message: planned.denied },
          };
    await savePlan(ctx, session.id, flow.slug, plan);
    return redirectTo(`/if/flow/${encodeURIComponent(flow.slug)}/`);
  } catch (err) {
    if (err instanceof ShowError) return messagePage(brand, err.title, err.message, err.status);
    throw err;
  }
}

/** authentik's SessionEndStage: what the user may do next, once signed out of the application. */
function sessionEnd(flow: FlowRow, req: EndSessionRequest): Challenge {
  const username = req.username;
  return withFlowInfo(
    { ...flow, title: formatTitle(flow.title, { app: req.application.name, user: username }) },
    {
      component: "ak-stage-session-end",
      pending_user: username,
      pending_user_avatar: initialsAvatar(username || "?"),
      application_name: req.application.name,
      application_launch_url: req.application.launch_url,
      invalidation_flow_url: `/if/flow/${encodeURIComponent(req.invalidation_flow)}/`,
      brand_name: req.brand_name,
    },
  );
}

/**
 * authentik's iframe logout challenge: the page loads each front-channel client's logout URL in a
 * hidden iframe, then goes to `redirect_to` when there is one, else shows what the session-end page
 * shows (its fields ride along).
 */
function iframeLogout(flow: FlowRow, req: EndSessionRequest, urls: FrontchannelLogout[]): Challenge {
  return {
    ...sessionEnd(flow, req),
    component: "ak-provider-iframe-logout",
    logout_urls: urls,
    redirect_to: req.redirect ?? "",
  };
}

/**
 * Ends the invalidation flow: this application's tokens for the session go, then back to the client.
 * When the flow ended the whole session (a user-logout stage), its end already revokes every token of
 * it and tells the back-channel clients (backchannel.ts); revoking here too would race with that and
 * could take the tokens from under it before it learnt whom to tell.
 */
async function finish(run: FinishRun): Promise<FinishAnswer> {
  const req = run.plan.context.oauth2_end_session as EndSessionRequest;
  const live = await run.ctx.store.db
    .selectFrom("sessions")
    .select("uuid")
    .where("session_hash", "=", req.session_hash)
    .executeTakeFirst();
  if (live) await revokeProviderSession(run.ctx, req.provider_id, req.session_hash);
  // The whole session ended: the front-channel clients hear of it from this page.
  const frontchannel = live ? [] : await frontchannelLogoutUrls(run.ctx, req.session_hash);
  if (frontchannel.length > 0) return { challenge: iframeLogout(run.flow, req, frontchannel) };
  if (req.redirect) return { redirect: req.redirect };
  return { challenge: sessionEnd(run.flow, req) };
}

registerFinisher(FINISHER_NAME, { finish });
