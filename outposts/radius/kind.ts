/**
 * The RADIUS outpost: fetches its providers, answers PAP Access-Requests by running the provider's flow
 * (then check_access, which also gives the reply attributes), and answers the same credentials again
 * from the verified credential cache the LDAP outpost uses — cleared at once on TRIGGER_UPDATE.
 */

import { Counter, Gauge } from "../../shared/metrics.ts";
import { type Network, parseNetworks } from "../../shared/networks.ts";
import type { ApiClient } from "../runtime/api.ts";
import { CredentialCache } from "../runtime/credential-cache.ts";
import { runFlow } from "../runtime/flow.ts";
import type { OutpostInstance, OutpostKind, OutpostRuntimeContext } from "../runtime/runtime.ts";
import { type AuthOutcome, type AuthRequest, RadiusHandler, type RadiusProvider } from "./handler.ts";
import { type RadiusServer, startRadiusServer } from "./transport.ts";

export interface RadiusProviderConfig extends RadiusProvider {
  application_slug: string;
  auth_flow_slug: string;
  client_networks: string;
  certificate: string | null;
}

export interface RadiusOutpostConfig {
  providers: RadiusProviderConfig[];
}

export interface RadiusKindOptions {
  host: string;
  token: string;
  listen: { hostname: string; port: number };
}

interface Granted {
  attributes: string;
}

export function radiusKind(
  options: RadiusKindOptions,
): OutpostKind<RadiusOutpostConfig> & { server(): RadiusServer | undefined } {
  let providers: RadiusProviderConfig[] = [];
  let networks: Network<RadiusProvider>[] = [];
  let server: RadiusServer | undefined;
  let log: OutpostRuntimeContext["log"] | undefined;
  let counter: Counter<"outcome"> | undefined;
  const cache = new CredentialCache<Granted>();

  const apply = (config: RadiusOutpostConfig) => {
    providers = config.providers;
    networks = config.providers.flatMap((p) => {
      const { networks: list, invalid } = parseNetworks(p.client_networks, p as RadiusProvider);
      if (invalid.length)
        log?.warn("ignoring client networks that do not parse", { provider: p.name, invalid });
      return list;
    });
  };

  const byPk = (pk: number) => providers.find((p) => p.pk === pk);

  const authenticate = async (request: AuthRequest): Promise<AuthOutcome> => {
    const provider = byPk(request.provider.pk);
    if (!provider) return { kind: "reject", reason: "reject_denied", message: "unknown provider" };
    // Only password-only answers are cached: a code is single-use and goes to the flow every time.
    const cacheable = request.code === undefined;
    if (cacheable) {
      const hit = cache.get(provider.pk, request.username, request.password);
      if (hit) return { kind: "accept", attributes: hit.attributes, username: request.username };
    }
    const outcome = await throughFlow(provider, request);
    if (outcome.kind === "accept" && cacheable)
      cache.set(provider.pk, request.username, request.password, { attributes: outcome.attributes });
    return outcome;
  };

  const throughFlow = async (provider: RadiusProviderConfig, r: AuthRequest): Promise<AuthOutcome> => {
    const flow = await runFlow(
      provider.auth_flow_slug,
      { username: r.username, password: r.password, ...(r.code && { code: r.code }) },
      {
        host: options.host,
        token: options.token,
        query: "goauthentik.io/outpost/radius=true",
        remoteIp: r.remoteIp,
      },
    );
    if (!flow.ok) {
      log?.info("radius request refused", { username: r.username, nas: r.nas, reason: flow.reason });
      if (flow.reason === "invalid" && flow.message === "a code is required" && !r.code)
        return { kind: "challenge" };
      if (flow.reason === "error")
        return {
          kind: "reject",
          reason: "reject_unavailable",
          message: "The identity provider cannot be reached; try again later",
        };
      return {
        kind: "reject",
        reason: flow.reason === "denied" ? "reject_denied" : "reject_invalid",
        message: flow.reason === "denied" ? flow.message : "Invalid credentials",
      };
    }
    const url = `${options.host.replace(/\/+$/, "")}/api/v3/outposts/radius/${provider.pk}/check_access/?app_slug=${encodeURIComponent(provider.application_slug)}`;
    try {
      const res = await fetch(url, { headers: { cookie: flow.cookie }, signal: AbortSignal.timeout(10_000) });
      if (!res.ok)
        return {
          kind: "reject",
          reason: "reject_unavailable",
          message: `check_access answered ${res.status}`,
        };
      const body = (await res.json()) as {
        access: { passing: boolean; messages: string[] };
        attributes?: string;
      };
      if (!body.access.passing) {
        const mapping = body.access.messages.find((m) => m.startsWith("property mapping"));
        return mapping
          ? {
              kind: "reject",
              reason: "reject_mapping",
              message: "The reply attributes could not be computed",
            }
          : { kind: "reject", reason: "reject_denied", message: "Access to the application is denied" };
      }
      return { kind: "accept", attributes: body.attributes ?? "", username: r.username };
    } catch {
      return {
        kind: "reject",
        reason: "reject_unavailable",
        message: "The identity provider cannot be reached; try again later",
      };
    }
  };

  const handler = new RadiusHandler({ networks: () => networks, authenticate });

  return {
    type: "radius",
    async fetch(api: ApiClient, _outpost: OutpostInstance): Promise<RadiusOutpostConfig> {
      return { providers: await api.all<RadiusProviderConfig>("/outposts/radius/") };
    },
    async start(config, ctx) {
      log = ctx.log;
      apply(config);
      server = await startRadiusServer({
        listen: options.listen,
        handler,
        count: (outcome) => counter?.inc({ outcome }),
        log: ctx.log,
      });
      ctx.log.info("radius outpost listening", { port: server.port, providers: providers.length });
    },
    async refresh(config) {
      cache.clear();
      apply(config);
    },
    invalidate: () => cache.clear(),
    sessionEnd: () => cache.clear(),
    revoked: () => {
      cache.clear();
      providers = [];
      networks = [];
    },
    registerMetrics(registry) {
      counter = new Counter({
        name: "gatehouse_radius_requests_total",
        help: "RADIUS datagrams by outcome: accept, challenge, reject_<reason>, drop_<reason>, duplicate",
        labelNames: ["outcome"] as const,
        registers: [registry],
      });
      new Gauge({
        name: "gatehouse_radius_cached_credentials",
        help: "Verified credentials held in the credential cache",
        registers: [registry],
        collect() {
          this.set(cache.size);
        },
      });
    },
    async stop() {
      server?.close();
    },
    server: () => server,
  };
}
