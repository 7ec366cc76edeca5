/**
 * Forward auth (authentik's mode_forward.go): the reverse proxy asks /auth/<server> about each request.
 * The original URL comes from X-Original-URL / X-Original-URI (nginx), X-Forwarded-Proto/Host/Uri
 * (Traefik, Caddy) or the path after /auth/envoy (Envoy). A known user gets 200 with the identity
 * headers; anyone else 401 (nginx), 307 to /start (Traefik) or 302 to the authorization endpoint (Caddy,
 * Envoy). Without the headers the server is misconfigured: 500, and a configuration_error event.
 */
import { type Application, isAllowlisted } from "./application.ts";
import { type AuthDeps, type AuthResult, authenticate } from "./auth.ts";
import { type HeaderMeta, type PreparedIdentity, prepareIdentity } from "./headers.ts";
import { startLogin } from "./login.ts";
import { errorPage, redirect } from "./pages.ts";
import type { ProxyRequest } from "./request.ts";

export type ForwardServer = "nginx" | "traefik" | "caddy" | "envoy";

const PREFIX = "/outpost.goauthentik.io/auth";

/** Which server an auth path is for (the legacy /auth: `?traefik` selects Traefik, else nginx). */
export function forwardServer(path: string, search: () => URLSearchParams): ForwardServer | undefined {
  if (path === PREFIX || path === `${PREFIX}/`) return search().has("traefik") ? "traefik" : "nginx";
  if (path === `${PREFIX}/nginx`) return "nginx";
  if (path === `${PREFIX}/traefik`) return "traefik";
  if (path === `${PREFIX}/caddy`) return "caddy";
  if (path.startsWith(`${PREFIX}/envoy`)) return "envoy";
  return undefined;
}

function parse(value: string): URL | undefined {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url : undefined;
  } catch {
    return undefined;
  }
}

/** The URL the user asked the reverse proxy for, or undefined when the headers are missing. */
export function originalUrl(server: ForwardServer, request: ProxyRequest, app: Application): URL | undefined {
  const h = request.headers;
  const proto = (h.get("x-forwarded-proto") ?? (app.secure ? "https" : "http")).split(",")[0]?.trim();
  const host = h.get("x-forwarded-host") ?? h.get("host");
  if (server === "nginx") {
    const full = h.get("x-original-url");
    if (full) return parse(full);
    const uri = h.get("x-original-uri");
    return uri && host ? parse(`${proto}://${host}${uri.startsWith("/") ? uri : `/${uri}`}`) : undefined;
  }
  if (server === "envoy") {
    const url = new URL(request.url);
    const rest = url.pathname.slice(`${PREFIX}/envoy`.length) || "/";
    return host ? parse(`${proto}://${host}${rest}${url.search}`) : undefined;
  }
  const fwdHost = h.get("x-forwarded-host");
  if (!fwdHost) return undefined;
  return parse(`${proto}://${fwdHost}${h.get("x-forwarded-uri") ?? "/"}`);
}

export interface ForwardDeps extends AuthDeps {
  meta: HeaderMeta;
  misconfigured(app: Application, server: ForwardServer, message: string): void;
}

/**
 * A signed-in user's answer: 200 with the identity headers, and the client's User-Agent passed back.
 * Kept apart from a Response so the proxy's front can write the prepared header lines as they are.
 */
export interface IdentityAnswer {
  identity: PreparedIdentity;
  /** The request's User-Agent, passed back over an identity header of that name. */
  agent: string | null;
}

export type ForwardAnswer = { response: Response | IdentityAnswer; outcome: string };

/** An IdentityAnswer as a Response (for Bun's server). */
export function identityResponse(answer: IdentityAnswer): Response {
  const prepared = answer.identity;
  prepared.headers ??= new Headers(prepared.pairs);
  const response = new Response(null, { status: 200, headers: prepared.headers });
  if (answer.agent) response.headers.set("user-agent", answer.agent);
  return response;
}

/** The answer for the reverse proxy: at once for a cached session (see `authenticate`), else a promise. */
export function forwardAuth(
  app: Application,
  server: ForwardServer,
  request: ProxyRequest,
  deps: ForwardDeps,
): ForwardAnswer | Promise<ForwardAnswer> {
  const original = originalUrl(server, request, app);
  if (!original) {
    const message =
      server === "nginx"
        ? "nginx sent neither X-Original-URL nor X-Original-URI"
        : server === "envoy"
          ? "envoy sent no Host"
          : `${server} sent no X-Forwarded-Host`;
    deps.misconfigured(app, server, message);
    return {
      response: errorPage(500, "Configuration error", `The reverse proxy is misconfigured: ${message}.`),
      outcome: "misconfigured",
    };
  }
  if (isAllowlisted(app, original))
    return { response: new Response(null, { status: 200 }), outcome: "allowlisted" };
  const auth = authenticate(app, request, deps);
  return auth instanceof Promise
    ? auth.then((result) => answer(app, server, request, deps, original, result))
    : answer(app, server, request, deps, original, auth);
}

function answer(
  app: Application,
  server: ForwardServer,
  request: ProxyRequest,
  deps: ForwardDeps,
  original: URL,
  auth: AuthResult,
): ForwardAnswer | Promise<ForwardAnswer> {
  if (auth.ok) {
    const identity = prepareIdentity(app, auth.identity, deps.meta);
    return { response: { identity, agent: request.headers.get("user-agent") }, outcome: "authenticated" };
  }
  switch (server) {
    case "nginx":
      return { response: new Response("Unauthorized", { status: 401 }), outcome: "unauthenticated" };
    case "traefik": {
      const base = app.config.mode === "forward_domain" ? app.externalBase : original.origin;
      const start = `${base}/outpost.goauthentik.io/start?rd=${encodeURIComponent(original.href)}`;
      return { response: redirect(start, 307), outcome: "unauthenticated" };
    }
    default:
      return startLogin(app, request, original.href, deps).then((response) => ({
        response,
        outcome: "unauthenticated",
      }));
  }
}
