/**
 * The proxy outpost: fetches its providers (and the certificates they name), serves them all from one
 * HTTP and one HTTPS listener routed by Host, keeps sessions in the core behind a short in-memory cache,
 * and drops a user's cached sessions the moment SESSION_END names their core session.
 */

import { Counter, Gauge } from "../../shared/metrics.ts";
import type { ApiClient } from "../runtime/api.ts";
import { type Certificate, selfSignedCertificate } from "../runtime/certificate.ts";
import type { OutpostInstance, OutpostKind, OutpostRuntimeContext } from "../runtime/runtime.ts";
import { type Application, buildApplication, type ProxyProviderConfig } from "./application.ts";
import { headerCache } from "./auth.ts";
import type { HandlerDeps } from "./handler.ts";
import { reportMisconfiguration } from "./misconfiguration.ts";
import { type Listen, type ProxyServer, startProxyServer } from "./server.ts";
import { SessionStore } from "./session.ts";

export interface ProxyOutpostConfig {
  outpost: string;
  providers: ProxyProviderConfig[];
  /** The providers' certificate-key pairs by uuid (PEM). */
  certificates: Record<string, Certificate>;
}

export interface ProxyKindOptions {
  host: string;
  hostBrowser: string;
  insecure: boolean;
  listen: Listen;
  listenTls?: Listen;
  upstreamTimeoutMs?: number;
  now?: () => number;
}

export function proxyKind(
  options: ProxyKindOptions,
): OutpostKind<ProxyOutpostConfig> & { server(): ProxyServer | undefined } {
  const now = options.now ?? Date.now;
  let apps: Application[] = [];
  let config: ProxyOutpostConfig = { outpost: "", providers: [], certificates: {} };
  let server: ProxyServer | undefined;
  let api: ApiClient | undefined;
  let log: OutpostRuntimeContext["log"] | undefined;
  let requests: Counter<"outcome"> | undefined;
  let selfSigned: Certificate | undefined;
  const sessions = new SessionStore(() => {
    if (!api) throw new Error("the outpost has not started");
    return api;
  }, now);
  const headers = headerCache(now);

  const apply = (next: ProxyOutpostConfig) => {
    config = next;
    apps = next.providers.flatMap((p) => {
      const app = buildApplication(p, { host: options.host, hostBrowser: options.hostBrowser }, log);
      return app ? [app] : [];
    });
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
      for (const uuid of new Set(providers.flatMap((p) => (p.certificate ? [p.certificate] : [])))) {
        const [cert, key] = await Promise.all([
          client.get<{ data: string }>(`/crypto/certificatekeypairs/${uuid}/view_certificate/`),
          client.get<{ data: string }>(`/crypto/certificatekeypairs/${uuid}/view_private_key/`),
        ]);
        certs[uuid] = { cert: cert.data, key: key.data };
      }
      return { outpost: outpost.name, providers, certificates: certs };
    },
    async start(initial, ctx) {
      log = ctx.log;
      api = ctx.api;
      apply(initial);
      selfSigned = await selfSignedCertificate("Gatehouse proxy outpost");
      const deps: HandlerDeps = {
        apps: () => apps,
        sessions,
        headers,
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
        count: (outcome) => requests?.inc({ outcome }),
      };
      server = startProxyServer({
        http: options.listen,
        ...(options.listenTls && { https: options.listenTls }),
        deps,
        log: ctx.log,
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
      headers.clear();
      await server?.reloadCertificates();
    },
    invalidate: () => headers.clear(),
    sessionEnd(sid) {
      const dropped = sessions.endSid(sid);
      headers.deleteWhere((identity) => identity?.sid === sid);
      log?.debug("session ended", { dropped });
    },
    revoked() {
      apps = [];
      sessions.clear();
      headers.clear();
    },
    registerMetrics(registry) {
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
  };
}
