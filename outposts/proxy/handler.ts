/**
 * One request to the proxy outpost, as a table of steps: ping; the provider by Host; the outpost's own
 * paths (start, callback, sign_out, auth/<server>); then, in proxy mode, the allow-list or the user, the
 * identity headers, and the upstream. Sockets, TLS and websocket frames are server.ts's.
 */
import { type Application, isAllowlisted, underDomain } from "./application.ts";
import { type AuthDeps, authenticate } from "./auth.ts";
import { type ForwardDeps, forwardAuth, forwardServer } from "./forward.ts";
import { prepareIdentity } from "./headers.ts";
import { callback, signOut, startLogin } from "./login.ts";
import { errorPage, redirect } from "./pages.ts";
import { forwardToUpstream, type UpstreamTarget, upstreamHeaders, upstreamTarget } from "./upstream.ts";

const OUTPOST = "/outpost.goauthentik.io";

export interface HandlerDeps extends ForwardDeps {
  apps(): Application[];
  upstreamTimeoutMs: number;
  count(outcome: string): void;
}

/** What to do with a request: answer it, or bridge a websocket to `target` with these headers. */
export type Handled =
  | { kind: "response"; response: Response }
  | { kind: "websocket"; app: Application; target: UpstreamTarget; headers: Headers; protocols: string[] };

const normalHost = (host: string) =>
  host
    .toLowerCase()
    .replace(/\.$/, "")
    .replace(/:(80|443)$/, "");

/**
 * The provider a Host belongs to: its external host; else, for a Host without a port, the external host
 * of that name on another port (nginx's `proxy_set_header Host $host`, as authentik's snippet has it,
 * drops the port); else a forward_domain provider's cookie domain.
 */
export function findApplication(apps: Application[], rawHost: string | null): Application | undefined {
  if (!rawHost) return undefined;
  let memo = byHost.get(apps);
  if (!memo) {
    memo = new Map();
    byHost.set(apps, memo);
  }
  if (memo.has(rawHost)) return memo.get(rawHost);
  const found = lookUp(apps, rawHost);
  // Hosts come from clients: keep the memo bounded.
  if (memo.size >= 1000) memo.clear();
  memo.set(rawHost, found);
  return found;
}

/** Per applications list (a new one with each configuration), the answer for each Host seen. */
const byHost = new WeakMap<Application[], Map<string, Application | undefined>>();

function lookUp(apps: Application[], rawHost: string): Application | undefined {
  const host = normalHost(rawHost);
  const exact = apps.find((a) => normalHost(a.host) === host);
  if (exact) return exact;
  const hostname = host.replace(/:\d+$/, "");
  if (hostname === host) {
    const named = apps.find((a) => a.external.hostname.toLowerCase() === hostname);
    if (named) return named;
  }
  return apps.find((a) => a.config.mode === "forward_domain" && underDomain(hostname, a.domain));
}

const respond = (response: Response): Handled => ({ kind: "response", response });

/** A request's path and query, as URL gives them. */
export interface RequestTarget {
  pathname: string;
  search: string;
  readonly searchParams: URLSearchParams;
}

/** A path and query that URL would leave as they are: no dot segments, escapes, backslashes or fragment. */
const PLAIN_TARGET =
  /^\/(?:[A-Za-z0-9_~!$&'()*+,;=:@-]|\.(?!\.?(?:[/?]|$))|\/(?!\.))*(?:\?[A-Za-z0-9_~!$&()*+,;=:@./?-]*)?$/;

/**
 * The path and query of a request's absolute URL. Most are plain and are sliced out as they are; any
 * other goes through URL, which normalizes it (dot segments, escapes) exactly as before.
 */
export function requestTarget(raw: string): RequestTarget {
  const start = raw.indexOf("/", raw.indexOf("//") + 2);
  const target = start < 0 ? "/" : raw.slice(start);
  if (!PLAIN_TARGET.test(target)) return new URL(raw);
  const q = target.indexOf("?");
  const pathname = q < 0 ? target : target.slice(0, q);
  const search = q < 0 || q === target.length - 1 ? "" : target.slice(q);
  let params: URLSearchParams | undefined;
  return {
    pathname,
    search,
    get searchParams() {
      params ??= new URLSearchParams(search);
      return params;
    },
  };
}

const CALLBACK_MARKER = "X-authentik-auth-callback";

export async function handleRequest(
  request: Request,
  deps: HandlerDeps,
  clientIp: () => string,
): Promise<Handled> {
  const url = requestTarget(request.url);
  const path = url.pathname;
  if (path === `${OUTPOST}/ping`) return respond(new Response(null, { status: 204 }));
  const host = request.headers.get("x-forwarded-host") ?? request.headers.get("host");
  const app = findApplication(deps.apps(), host);
  if (!app) {
    deps.count("unknown_host");
    return respond(errorPage(404, "Not found", "No application is configured for this host."));
  }
  if (path === OUTPOST || path.startsWith(`${OUTPOST}/`))
    return respond(await outpostPath(app, request, url, deps));
  // authentik's outposts take the sign-in callback on any path that carries its marker (the provider
  // also registers `<external_host>?X-authentik-auth-callback=true`), for setups that route only the
  // app's own paths here.
  if (
    url.search.includes(CALLBACK_MARKER) &&
    url.searchParams.get(CALLBACK_MARKER) === "true" &&
    url.searchParams.has("state")
  ) {
    deps.count("callback");
    return respond(await callback(app, request, deps));
  }
  if (app.config.mode !== "proxy") {
    deps.count("not_found");
    return respond(errorPage(404, "Not found", "This host only answers forward-auth requests."));
  }
  return proxy(app, request, url, deps, clientIp);
}

async function outpostPath(
  app: Application,
  request: Request,
  url: RequestTarget,
  deps: HandlerDeps,
): Promise<Response> {
  const sub = url.pathname.slice(OUTPOST.length);
  switch (sub) {
    case "/start":
    case "/sign_in":
      deps.count("start");
      return startLogin(app, request, url.searchParams.get("rd"), deps);
    case "/callback":
      deps.count("callback");
      return callback(app, request, deps);
    case "/sign_out":
      deps.count("sign_out");
      return signOut(app, request, deps);
  }
  const server = forwardServer(url.pathname, () => url.searchParams);
  if (server) {
    const { response, outcome } = await forwardAuth(app, server, request, deps);
    deps.count(`forward_${outcome}`);
    return response;
  }
  deps.count("not_found");
  return errorPage(404, "Not found", "No such outpost path.");
}

async function proxy(
  app: Application,
  request: Request,
  url: RequestTarget,
  deps: HandlerDeps,
  clientIp: () => string,
): Promise<Handled> {
  const original = () => new URL(`${url.pathname}${url.search}`, `${app.externalBase}/`);
  const allowed = app.allowlist.length > 0 && isAllowlisted(app, original());
  const auth = allowed ? undefined : await authenticate(app, request, deps as AuthDeps);
  if (!allowed && !auth?.ok) {
    deps.count("unauthenticated");
    return respond(
      redirect(`${app.externalBase}${OUTPOST}/start?rd=${encodeURIComponent(original().href)}`, 302),
    );
  }
  const proxyClaims = auth?.ok ? auth.identity.claims.ak_proxy : undefined;
  const identity = auth?.ok ? prepareIdentity(app, auth.identity, deps.meta) : undefined;
  const headers = upstreamHeaders(request.headers, {
    clientIp: clientIp(),
    host: app.host,
    proto: app.external.protocol.replace(":", ""),
    cookie: app.cookie,
    dropAuthorization: auth?.ok === true && auth.via !== "session",
    identity,
    hostHeader: proxyClaims?.host_header,
  });
  const target = upstreamTarget(proxyClaims?.backend_override || app.config.internal_host, url);
  if (request.headers.get("upgrade")?.toLowerCase() === "websocket") {
    const protocols = (request.headers.get("sec-websocket-protocol") ?? "")
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    const socketHeaders = new Headers(
      [...headers, ...(identity?.pairs ?? [])].filter(
        ([name]) => !name.toLowerCase().startsWith("sec-websocket-"),
      ),
    );
    return { kind: "websocket", app, target, headers: socketHeaders, protocols };
  }
  const result = await forwardToUpstream(request, target, headers, {
    identity,
    verifyTls: app.config.internal_host_ssl_validation,
    timeoutMs: deps.upstreamTimeoutMs,
  });
  deps.count(allowed ? `allowlisted_${result.outcome}` : result.outcome);
  if (result.detail) deps.log.warn("upstream failed", { provider: app.config.name, detail: result.detail });
  return respond(result.response);
}
