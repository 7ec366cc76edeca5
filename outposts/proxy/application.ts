/**
 * One provider the proxy outpost serves, as the core describes it (authentik's ProxyOutpostConfig), and
 * what the outpost derives from it once: the hosts it answers for, the cookie, the allow-list, and the
 * core's endpoints split into the browser's (authorize, end-session) and the outpost's own (token,
 * introspection).
 */
import type { Logger } from "../../shared/log.ts";
import { cookieName } from "./cookie.ts";

export type ProxyMode = "proxy" | "forward_single" | "forward_domain";

export interface OidcConfiguration {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  userinfo_endpoint: string;
  introspection_endpoint: string;
  end_session_endpoint: string;
  jwks_uri: string;
  id_token_signing_alg_values_supported?: string[];
}

export interface ProxyProviderConfig {
  pk: number;
  name: string;
  internal_host: string;
  external_host: string;
  internal_host_ssl_validation: boolean;
  client_id: string;
  client_secret: string;
  oidc_configuration: OidcConfiguration | null;
  cookie_secret: string;
  certificate: string | null;
  skip_path_regex: string;
  basic_auth_enabled: boolean;
  basic_auth_password_attribute: string;
  basic_auth_user_attribute: string;
  mode: ProxyMode;
  cookie_domain: string;
  access_token_validity: number;
  intercept_header_auth: boolean;
  scopes_to_request: string[];
  assigned_application_slug: string;
  assigned_application_name: string;
}

export interface Application {
  config: ProxyProviderConfig;
  oidc: OidcConfiguration;
  /** external_host without a trailing slash, and its parsed form. */
  external: URL;
  externalBase: string;
  /** The host (lowercase, with a port when not the default) requests for this provider carry. */
  host: string;
  /** forward_domain: the cookie domain without its leading dot, lowercase. */
  domain: string;
  cookie: string;
  secure: boolean;
  allowlist: RegExp[];
  /** Where the browser goes (host_browser when set) and where the outpost calls (the core's host). */
  browser: { authorize: string; endSession: string };
  backchannel: { token: string; introspect: string; jwks: string };
  redirectUri: string;
  /** Keys: the cookie secret (state, pre-session binding) and the client secret (HS256 tokens). */
  cookieKey: Uint8Array;
  clientKey: Uint8Array;
}

/** The same path and query on another origin (the core's endpoints seen from the browser or the outpost). */
function rebase(endpoint: string, base: string): string {
  if (!base) return endpoint;
  const from = new URL(endpoint);
  return `${base.replace(/\/+$/, "")}${from.pathname}${from.search}`;
}

/** skip_path_regex: one regex a line; a line that does not compile is skipped with a warning. */
export function compileAllowlist(source: string, log?: Logger, provider = ""): RegExp[] {
  const out: RegExp[] = [];
  for (const line of source.split("\n").map((l) => l.trim())) {
    if (!line) continue;
    try {
      out.push(new RegExp(line));
    } catch (err) {
      log?.warn("skipping a skip_path_regex line that does not compile", {
        provider,
        regex: line,
        error: (err as Error).message,
      });
    }
  }
  return out;
}

export function buildApplication(
  config: ProxyProviderConfig,
  endpoints: { host: string; hostBrowser: string },
  log?: Logger,
): Application | undefined {
  const oidc = config.oidc_configuration;
  let external: URL;
  try {
    external = new URL(config.external_host);
  } catch {
    log?.warn("a proxy provider's external host is not a URL; it is not served", { provider: config.name });
    return undefined;
  }
  if (!oidc) {
    log?.warn("a proxy provider has no application; it is not served", { provider: config.name });
    return undefined;
  }
  const externalBase = config.external_host.replace(/\/+$/, "");
  const encoder = new TextEncoder();
  return {
    config,
    oidc,
    external,
    externalBase,
    host: external.host.toLowerCase(),
    domain: config.cookie_domain.trim().replace(/^\./, "").toLowerCase(),
    cookie: cookieName(config.client_id),
    secure: external.protocol === "https:",
    allowlist: compileAllowlist(config.skip_path_regex, log, config.name),
    browser: {
      authorize: rebase(oidc.authorization_endpoint, endpoints.hostBrowser),
      endSession: rebase(oidc.end_session_endpoint, endpoints.hostBrowser),
    },
    backchannel: {
      token: rebase(oidc.token_endpoint, endpoints.host),
      introspect: rebase(oidc.introspection_endpoint, endpoints.host),
      jwks: rebase(oidc.jwks_uri, endpoints.host),
    },
    redirectUri: `${externalBase}/outpost.goauthentik.io/callback?X-authentik-auth-callback=true`,
    cookieKey: encoder.encode(config.cookie_secret),
    clientKey: encoder.encode(config.client_secret),
  };
}

/** Whether a request skips authentication: its path (proxy, forward_single) or full URL (forward_domain). */
export function isAllowlisted(app: Application, url: URL): boolean {
  const subject = app.config.mode === "forward_domain" ? url.href : url.pathname;
  return app.allowlist.some((re) => re.test(subject));
}

/** Whether `hostname` is the cookie domain or under it (forward_domain). */
export function underDomain(hostname: string, domain: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, "");
  return domain !== "" && (h === domain || h.endsWith(`.${domain}`));
}
