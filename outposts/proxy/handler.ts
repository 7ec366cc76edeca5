/**
 * One request to the proxy outpost, as a table of steps: ping; the provider by Host; the outpost's own
 * paths (start, callback, sign_out, auth/<server>); then, in proxy mode, the allow-list or the user, the
 * identity headers, and the upstream. Sockets, TLS and websocket frames are server.ts's.
 */
import { type Application, isAllowlisted, underDomain } from "./application.ts";
import { type AuthDeps, type AuthResult, authenticate } from "./auth.ts";
import {
  type ForwardAnswer,
  type ForwardDeps,
  forwardAuth,
  forwardServer,
  type IdentityAnswer,
} from "./forward.ts";
import { prepareIdentity } from "./headers.ts";
import { callback, signOut, startLogin } from "./login.ts";
import { errorPage, redirect } from "./pages.ts";
import type { ProxyRequest } from "./request.ts";
import { type UpstreamCall, type UpstreamTarget, upstreamHeaders, upstreamTarget } from "./upstream.ts";

const OUTPOST = "/outpost.goauthentik.io";

export interface HandlerDeps extends ForwardDeps {
  apps(): Application[];
  upstreamTimeoutMs: number;
  count(outcome: string): void;
}

/**
 * What to do with a request: answer it, send it on to the upstream (the listener streams it: as a
 * Response, or relayed onto the client's socket by the front), or bridge a websocket to `target`.
 */
export type Handled =
  | { kind: "response"; response: Response }
  /** Forward auth's yes: the identity headers (a Response to Bun's server, lines to the front). */
  | ({ kind: "identity" } & IdentityAnswer)
  | ({ kind: "upstream" } & UpstreamCall)
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

/**
 * What to do with a request: at once when nothing has to be asked (a cached session, a page, a refusal),
 * so the proxy's front can act within the socket's callback; else a promise.
 */
export function handleRequest(
  request: ProxyRequest,
  deps: HandlerDeps,
  clientIp: () => string,
): Handled | Promise<Handled> {
  const url = requestTarget(request.url);
  const path = url.pathname;
  if (path === `${OUTPOST}/ping`) return respond(new Response(null, { status: 204 }));
  const host = request.headers.get("x-forwarded-host") ?? request.headers.get("host");
  const app = findApplication(deps.apps(), host);
  if (!app) {
    deps.count("unknown_host");
    return respond(errorPage(404, "Not found", "No application is configured for this host."));
  }
  if (path === OUTPOST || path.startsWith(`${OUTPOST}/`)) return outpostPath(app, request, url, deps);
  // authentik's outposts take the sign-in callback on any path that carries its marker (the provider
  // also registers `<external_host>?X-authentik-auth-callback=true`), for setups that route only the
  // app's own paths here.
  if (
    url.search.includes(CALLBACK_MARKER) &&
    url.searchParams.get(CALLBACK_MARKER) === "true" &&
    url.searchParams.has("state")
  ) {
    deps.count("callback");
    return callback(app, request, deps).then(respond);
  }
  if (app.config.mode !== "proxy") {
    deps.count("not_found");
    return respond(errorPage(404, "Not found", "This host only answers forward-auth requests."));
  }
  return proxy(app, request, url, deps, clientIp);
}

function outpostPath(
  app: Application,
  request: ProxyRequest,
  url: RequestTarget,
  deps: HandlerDeps,
): Handled | Promise<Handled> {
  const sub = url.pathname.slice(OUTPOST.length);
  switch (sub) {
    case "/start":
    case "/sign_in":
      deps.count("start");
      return startLogin(app, request, url.searchParams.get("rd"), deps).then(respond);
    case "/callback":
      deps.count("callback");
      return callback(app, request, deps).then(respond);
    case "/sign_out":
      deps.count("sign_out");
      return signOut(app, request, deps).then(respond);
  }
  const server = forwardServer(url.pathname, () => url.searchParams);
  if (server) {
    const counted = ({ response, outcome }: ForwardAnswer): Handled => {
      deps.count(`forward_${outcome}`);
      return response instanceof Response ? respond(response) : { kind: "identity", ...response };
    };
    const answer = forwardAuth(app, server, request, deps);
    return answer instanceof Promise ? answer.then(counted) : counted(answer);
  }
  deps.count("not_found");
  return respond(errorPage(404, "Not found", "No such outpost path."));
}

function proxy(
  app: Application,
  request: ProxyRequest,
  url: RequestTarget,
  deps: HandlerDeps,
  clientIp: () => string,
): Handled | Promise<Handled> {
  const original = () => new URL(`${url.pathname}${url.search}`, `${app.externalBase}/`);
  if (app.allowlist.length > 0 && isAllowlisted(app, original()))
    return passOn(app, request, url, deps, clientIp, undefined);
  const auth = authenticate(app, request, deps as AuthDeps);
  const decided = (result: AuthResult): Handled => {
    if (result.ok) return passOn(app, request, url, deps, clientIp, result);
    deps.count("unauthenticated");
    return respond(
      redirect(`${app.externalBase}${OUTPOST}/start?rd=${encodeURIComponent(original().href)}`, 302),
    );
  };
  return auth instanceof Promise ? auth.then(decided) : decided(auth);
}

/** The request as the upstream gets it: allow-listed (no `auth`), or for a signed-in user. */
function passOn(
  app: Application,
  request: ProxyRequest,
  url: RequestTarget,
  deps: HandlerDeps,
  clientIp: () => string,
  auth: Extract<AuthResult, { ok: true }> | undefined,
): Handled {
  const proxyClaims = auth?.identity.claims.ak_proxy;
  const identity = auth ? prepareIdentity(app, auth.identity, deps.meta) : undefined;
  const headers = upstreamHeaders(request.headers, {
    clientIp: clientIp(),
    host: app.host,
    proto: app.secure ? "https" : "http",
    cookie: app.cookie,
    dropAuthorization: auth !== undefined && auth.via !== "session",
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
  return { kind: "upstream", app, target, headers, identity, allowlisted: auth === undefined };
}
