/**
 * The proxy outpost: fetches its providers (and the certificates they name), serves them all from one
 * HTTP and one HTTPS listener routed by Host, keeps sessions in the core behind a short in-memory cache,
 * and drops a user's cached sessions the moment SESSION_END names their core session.
 */

import { Counter, Gauge } from "../../shared/metrics.ts";
import { DEFAULT_TRUSTED_PROXY_CIDRS, TrustedProxies } from "../../shared/networks.ts";
import { PROXY_SESSION_END } from "../../shared/protocol.ts";
import type { ApiClient } from "../runtime/api.ts";
import { type Certificate, selfSignedCertificate } from "../runtime/certificate.ts";
import type { OutpostInstance, OutpostKind, OutpostRuntimeContext } from "../runtime/runtime.ts";
import { type Application, buildApplication, type ProxyProviderConfig } from "./application.ts";
import { headerCache } from "./auth.ts";
import type { Identity } from "./claims.ts";
import type { HandlerDeps } from "./handler.ts";
import { reportMisconfiguration } from "./misconfiguration.ts";
import {
  type Listen,
  type ProxyHandlers,
  type ProxyServer,
  proxyHandlers,
  startProxyServer,
  type Upgrader,
} from "./server.ts";
import { SESSION_TTL_MS, SessionStore, STALE_GRACE_MS } from "./session.ts";
import { TtlCache } from "./ttl-cache.ts";

export interface ProxyOutpostConfig {
  outpost: string;
  providers: ProxyProviderConfig[];
  /** The providers' certificate-key pairs by uuid (PEM). */
  certificates: Record<string, Certificate>;
  /** Embedded: where browsers reach the core, from the outpost's own config (authentik_host_browser). */
  host_browser?: string;
}

export interface ProxyKindOptions {
  host: string;
  hostBrowser: string;
  insecure: boolean;
  /** null: no listeners of its own; the embedding server hands requests to `handle` (the core's). */
  listen: Listen | null;
  listenTls?: Listen;
  /**
   * `listen.trusted_proxy_cidrs`: peers whose plain-HTTP connections may begin with a PROXY protocol
   * header naming the client (DEFAULT_TRUSTED_PROXY_CIDRS when not given; "" for none).
   */
  trustedProxyCidrs?: string;
  upstreamTimeoutMs?: number;
  /** How long what the core confirmed still passes while the core cannot be reached (STALE_GRACE_MS). */
  sessionGraceMs?: number;
  now?: () => number;
  /**
   * Embedded in the core: browsers reach the core at the outpost's `authentik_host_browser` or
   * `authentik_host` (as authentik's embedded outpost), since the kind itself talks to it on loopback.
   */
  browserFromOutpost?: boolean;
  /** Called with the providers served, whenever they change (the core routes Hosts by them). */
  onApplications?(apps: Application[]): void;
}

export type ProxyKind = OutpostKind<ProxyOutpostConfig> & {
  server(): ProxyServer | undefined;
  /** One request (listen: null); undefined once it became a websocket on `server`. */
  /** `clientIp` is asked only when needed (X-Forwarded-For in proxy mode). */
  handle(request: Request, clientIp: () => string, server?: Upgrader): Promise<Response | undefined>;
  /** The websocket bridge for sockets `handle` upgraded. */
  websocket: ProxyHandlers["websocket"];
};

export function proxyKind(options: ProxyKindOptions): ProxyKind {
  const now = options.now ?? Date.now;
  let apps: Application[] = [];
  let config: ProxyOutpostConfig = { outpost: "", providers: [], certificates: {} };
  let server: ProxyServer | undefined;
  let api: ApiClient | undefined;
  let log: OutpostRuntimeContext["log"] | undefined;
  let requests: Counter<"outcome"> | undefined;
  /** Per outcome, the counter's incrementer (outcomes are a fixed handful of names). */
  const counted = new Map<string, () => void>();
  let selfSigned: Certificate | undefined;
  let handlers: ProxyHandlers | undefined;
  const graceMs = options.sessionGraceMs ?? STALE_GRACE_MS;
  const sessions = new SessionStore(
    () => {
      if (!api) throw new Error("the outpost has not started");
      return api;
    },
    now,
    SESSION_TTL_MS,
    graceMs,
  );
  const headers = headerCache(now);
  const confirmedHeaders = new TtlCache<Identity>(20_000, now);
  const forgetHeaders = () => {
    headers.clear();
    confirmedHeaders.clear();
  };

  const apply = (next: ProxyOutpostConfig) => {
    config = next;
    const hostBrowser = next.host_browser || options.hostBrowser;
    apps = next.providers.flatMap((p) => {
      const app = buildApplication(p, { host: options.host, hostBrowser }, log);
      return app ? [app] : [];
    });
    options.onApplications?.(apps);
  };

  const certificates = () => {
    const byHost = new Map<string, Certificate>();
    for (const app of apps) {
      const pair = app.config.certificate ? config.certificates[app.config.certificate] : undefined;
      if (pair?.key) byHost.set(app.external.hostname, pair);
    }
    return { fallback: selfSigned as Certificate, byHost };
  };

  return {
    type: "proxy",
    async fetch(client: ApiClient, outpost: OutpostInstance): Promise<ProxyOutpostConfig> {
      const providers = await client.all<ProxyProviderConfig>("/outposts/proxy/");
      const certs: Record<string, Certificate> = {};
      // Without listeners of its own (embedded) there is no TLS to serve: no keys to fetch.
      const named = options.listen ? providers.flatMap((p) => (p.certificate ? [p.certificate] : [])) : [];
      for (const uuid of new Set(named)) {
        const [cert, key] = await Promise.all([
          client.get<{ data: string }>(`/crypto/certificatekeypairs/${uuid}/view_certificate/`),
          client.get<{ data: string }>(`/crypto/certificatekeypairs/${uuid}/view_private_key/`),
        ]);
        certs[uuid] = { cert: cert.data, key: key.data };
      }
      const browser = (key: string) => {
        const value = outpost.config[key];
        return typeof value === "string" ? value : "";
      };
      const hostBrowser = options.browserFromOutpost
        ? browser("authentik_host_browser") || browser("authentik_host")
        : "";
      return {
        outpost: outpost.name,
        providers,
        certificates: certs,
        ...(hostBrowser && { host_browser: hostBrowser }),
      };
    },
    async start(initial, ctx) {
      log = ctx.log;
      api = ctx.api;
      apply(initial);
      const deps: HandlerDeps = {
        apps: () => apps,
        sessions,
        headers,
        confirmedHeaders,
        graceMs,
        backchannel: { insecure: options.insecure },
        now,
        log: ctx.log,
        meta: {
          get outpost() {
            return config.outpost;
          },
        },
        misconfigured: (app, kind, message) =>
          reportMisconfiguration(ctx.api, ctx.log, app, kind, message, now),
        upstreamTimeoutMs: options.upstreamTimeoutMs ?? 60_000,
        count: (outcome) => {
          if (!requests) return;
          let inc = counted.get(outcome);
          if (!inc) {
            inc = requests.incrementer({ outcome });
            counted.set(outcome, inc);
          }
          inc();
        },
      };
      handlers = proxyHandlers(deps, ctx.log);
      if (!options.listen) {
        ctx.log.info("proxy outpost serving through the core", { providers: apps.length });
        return;
      }
      selfSigned = await selfSignedCertificate("Gatehouse proxy outpost");
      const trustedProxies = new TrustedProxies(options.trustedProxyCidrs ?? DEFAULT_TRUSTED_PROXY_CIDRS);
      if (trustedProxies.invalid.length > 0)
        ctx.log.warn("listen.trusted_proxy_cidrs: entries that are not networks are left out", {
          code: "PX0009TrustedProxyInvalid",
          entries: trustedProxies.invalid,
        });
      server = startProxyServer({
        http: options.listen,
        ...(options.listenTls && { https: options.listenTls }),
        deps,
        log: ctx.log,
        trustedProxies,
        certificates,
      });
      ctx.log.info("proxy outpost listening", {
        port: server.port,
        tls_port: server.tlsPort,
        providers: apps.length,
      });
    },
    async refresh(next) {
      apply(next);
      forgetHeaders();
      await server?.reloadCertificates();
    },
    invalidate: forgetHeaders,
    providerSpecific(args) {
      // Gatehouse's core: one proxy session was signed out (by another replica, or through the API).
      if (args.sub_type === PROXY_SESSION_END && typeof args.session_hash === "string") {
        const dropped = sessions.endSession(args.session_hash);
        log?.debug("proxy session signed out elsewhere", { dropped });
      }
    },
    sessionEnd(sid) {
      const dropped = sessions.endSid(sid);
      headers.deleteWhere((identity) => identity?.sid === sid);
      confirmedHeaders.deleteWhere((identity) => identity.sid === sid);
      log?.debug("session ended", { dropped });
    },
    revoked() {
      apps = [];
      options.onApplications?.(apps);
      sessions.clear();
      forgetHeaders();
    },
    registerMetrics(registry) {
      counted.clear();
      requests = new Counter({
        name: "gatehouse_proxy_requests_total",
        help: "Requests by outcome: proxied, unauthenticated, upstream_down, upstream_timeout, forward_<outcome>, …",
        labelNames: ["outcome"] as const,
        registers: [registry],
      });
      new Gauge({
        name: "gatehouse_proxy_cached_sessions",
        help: "Session lookups held in memory (found or not)",
        registers: [registry],
        collect() {
          this.set(sessions.size);
        },
      });
      new Gauge({
        name: "gatehouse_proxy_cached_header_auth",
        help: "Authorization headers whose answer is held in memory",
        registers: [registry],
        collect() {
          this.set(headers.size);
        },
      });
    },
    async stop() {
      await server?.stop();
    },
    server: () => server,
    async handle(request, clientIp, upgrader) {
      if (!handlers) return new Response("proxy not running", { status: 502 });
      return handlers.fetch(request, clientIp, upgrader);
    },
    websocket: {
      open: (ws) => handlers?.websocket.open(ws),
      message: (ws, message) => handlers?.websocket.message(ws, message),
      close: (ws, code, reason) => handlers?.websocket.close(ws, code, reason),
    },
  };
}
