/**
 * One runtime for every outpost kind: find the outpost, fetch its configuration, keep the last good one
 * on disk, start the kind's server (from the cache when the core is away), refresh on TRIGGER_UPDATE
 * (spread over 0–10 s), on the refresh interval and on SIGUSR1, and serve ping and metrics.
 */

import { rmSync } from "node:fs";
import { parseListen } from "../../shared/config/load.ts";
import { isGatehouseError } from "../../shared/errors.ts";
import { createLogger, type Logger } from "../../shared/log.ts";
import { Counter, Gauge, Registry } from "../../shared/metrics.ts";
import { VERSION } from "../../shared/version.ts";
import { ApiClient, CoreUnavailable } from "./api.ts";
import { backoffDelay } from "./backoff.ts";
import { cachePath, loadCache, saveCache } from "./cache.ts";
import { ControlChannel } from "./channel.ts";
import type { OutpostConfig } from "./config.ts";

/** What the core says about this outpost (GET /outposts/instances/ → results[0]). */
export interface OutpostInstance {
  pk: string;
  name: string;
  type: string;
  refresh_interval_s: number;
  config: Record<string, unknown>;
}

/** What an outpost kind supplies; the runtime does everything else. */
export interface OutpostKind<C> {
  type: string;
  /** Fetches the kind's configuration (e.g. /outposts/ldap/ and the directory). */
  fetch(api: ApiClient, outpost: OutpostInstance): Promise<C>;
  start(config: C, ctx: OutpostRuntimeContext): Promise<void>;
  refresh(config: C): Promise<void>;
  /** Drops whatever the kind answers from memory (cached binds): called at once on TRIGGER_UPDATE. */
  invalidate?(): void;
  /**
   * Applies a TRIGGER_UPDATE that names what changed (`args.directory`) by fetching only that, and
   * returns the new configuration (kept on disk like a full one). Undefined: the runtime refetches
   * everything instead.
   */
  update?(api: ApiClient, current: C, change: DirectoryChange): Promise<C | undefined>;
  sessionEnd?(sessionId: string): void;
  /** PROVIDER_SPECIFIC frames (authentik's per-kind instruction): `args` as sent. */
  providerSpecific?(args: Record<string, unknown>): void;
  /** The core refused the outpost's token: serve nothing more from what was cached. */
  revoked?(): void;
  stop(): Promise<void>;
  /** Extra metrics the kind reports. */
  registerMetrics?(registry: Registry): void;
}

export interface OutpostRuntimeContext {
  log: Logger;
  api: ApiClient;
  /** True while the last configuration came from the core rather than the disk cache. */
  online(): boolean;
}

/** The labels authentik's outposts put on their connection, info and last-update gauges. */
interface AuthentikLabels {
  outpost_name: string;
  outpost_type: string;
  uuid: string;
}

interface Cached<C> {
  outpost: OutpostInstance;
  config: C;
  saved: string;
}

/** What TRIGGER_UPDATE's `args.directory` names: changed user pks and group uuids. */
export interface DirectoryChange {
  users: number[];
  groups: string[];
}

/** A valid `args.directory`, or undefined (then the whole configuration is refetched). */
export function directoryChange(args: Record<string, unknown>): DirectoryChange | undefined {
  const d = args.directory as { users?: unknown; groups?: unknown } | undefined;
  if (!d || typeof d !== "object") return undefined;
  const users =
    Array.isArray(d.users) && d.users.every((u) => Number.isInteger(u)) ? (d.users as number[]) : undefined;
  const groups =
    Array.isArray(d.groups) && d.groups.every((g) => typeof g === "string")
      ? (d.groups as string[])
      : undefined;
  return users && groups ? { users, groups } : undefined;
}

export interface RunningOutpost {
  instance: string;
  /** The outpost's metrics in the Prometheus text format (also when it serves no /metrics itself). */
  metrics(): Promise<string>;
  refresh(): Promise<boolean>;
  stop(): Promise<void>;
  metricsPort: number;
}

export interface RunOptions {
  /** Overrides for tests: a logger, and whether to install signal handlers. */
  log?: Logger;
  signals?: boolean;
  /** The spread of refreshes after TRIGGER_UPDATE (0–10 s by default). */
  reloadOffsetMs?: number;
  /** Serve ping and /metrics on listen.metrics (an embedded outpost leaves that to the core). */
  metrics?: boolean;
}

export async function runOutpost<C>(
  kind: OutpostKind<C>,
  config: OutpostConfig,
  options: RunOptions = {},
): Promise<RunningOutpost> {
  const log = options.log ?? createLogger({ level: config["log.level"] }, { outpost_type: kind.type });
  if (!config.host || !config.token) {
    throw new Error(
      "GATEHOUSE_HOST (or AUTHENTIK_HOST) and GATEHOUSE_TOKEN (or AUTHENTIK_TOKEN) must be set",
    );
  }
  const api = new ApiClient({ host: config.host, token: config.token, insecure: config.insecure });
  const cacheFile = cachePath(config.data_dir, kind.type);
  const instance = crypto.randomUUID();
  const reloadOffset = options.reloadOffsetMs ?? Math.floor(Math.random() * 10_000);

  const registry = new Registry();
  const connection = new Gauge({
    name: "gatehouse_outpost_connection",
    help: "1 while the control channel is connected",
    registers: [registry],
  });
  const lastUpdate = new Gauge({
    name: "gatehouse_outpost_last_update",
    help: "Unix time of the last configuration applied",
    registers: [registry],
  });
  new Gauge({
    name: "gatehouse_outpost_info",
    help: "Outpost version",
    labelNames: ["version", "type"] as const,
    registers: [registry],
  }).set({ version: VERSION, type: kind.type }, 1);
  const updates = new Counter({
    name: "gatehouse_outpost_updates_total",
    help: "Configuration updates applied, by kind: full (everything refetched) or partial (only what changed)",
    labelNames: ["kind"] as const,
    registers: [registry],
  });
  new Gauge({
    name: "gatehouse_outpost_resident_memory_bytes",
    help: "Resident memory of the outpost process (the embedded outpost: of the core)",
    registers: [registry],
    collect() {
      this.set(process.memoryUsage().rss);
    },
  });
  // authentik's own names and labels too, so dashboards and alerts written for its outposts work.
  const state = { labels: undefined as AuthentikLabels | undefined, connected: 0, updated: 0 };
  const authentikGauge = (name: string, help: string, value: () => number, withVersion: boolean) =>
    new Gauge({
      name,
      help,
      labelNames: ["outpost_name", "outpost_type", "uuid", "version", "build"] as const,
      registers: [registry],
      collect() {
        if (!state.labels) return;
        this.set(withVersion ? { ...state.labels, version: VERSION, build: "" } : state.labels, value());
      },
    });
  authentikGauge("authentik_outpost_info", "Outpost info", () => 1, true);
  authentikGauge("authentik_outpost_last_update", "Time of last update", () => state.updated, true);
  authentikGauge("authentik_outpost_connection", "Connection status", () => state.connected, false);
  kind.registerMetrics?.(registry);

  let online = false;
  const fetchAll = async (): Promise<Cached<C>> => {
    const outposts = await api.get<{ results: OutpostInstance[] }>("/outposts/instances/");
    const outpost = outposts.results[0];
    if (!outpost) throw new Error("No outposts found with the given token; check GATEHOUSE_TOKEN");
    await api.get("/root/config/");
    return { outpost, config: await kind.fetch(api, outpost), saved: new Date().toISOString() };
  };

  // Start from the core if it answers, else from the disk; without either, keep trying.
  let current: Cached<C> | undefined;
  for (let attempt = 0; !current; attempt++) {
    try {
      current = await fetchAll();
      online = true;
      saveCache(cacheFile, current);
    } catch (err) {
      if (!(err instanceof CoreUnavailable)) throw err;
      current = loadCache<Cached<C>>(cacheFile);
      if (current) {
        log.warn("core unreachable; starting from the last good configuration", {
          saved: current.saved,
          error: err.message,
        });
      } else {
        const delay = backoffDelay(attempt);
        log.warn("core unreachable and no cached configuration yet; retrying", {
          in_ms: delay,
          error: err.message,
        });
        await Bun.sleep(delay);
      }
    }
  }
  const outpost = current.outpost;
  state.labels = { outpost_name: outpost.name, outpost_type: kind.type, uuid: outpost.pk };
  const ctx: OutpostRuntimeContext = { log, api, online: () => online };
  await kind.start(current.config, ctx);
  const updated = () => {
    state.updated = Date.now() / 1000;
    lastUpdate.set(state.updated);
  };
  updated();

  let refreshing: Promise<boolean> | undefined;
  const refresh = (): Promise<boolean> => {
    refreshing ??= (async () => {
      try {
        const next = await fetchAll();
        await kind.refresh(next.config);
        current = next;
        updates.inc({ kind: "full" });
        saveCache(cacheFile, next);
        online = true;
        updated();
        log.info("configuration refreshed", { outpost: outpost.name });
        return true;
      } catch (err) {
        online = false;
        if (isGatehouseError(err) && err.status === 403) {
          // The token was revoked (or the outpost deleted): stop serving, and keep nothing on disk.
          log.error("the core refused this outpost's token; it stops serving until given a valid one", {
            code: "OR0003TokenRevoked",
          });
          kind.invalidate?.();
          kind.revoked?.();
          rmSync(cacheFile, { force: true });
          return false;
        }
        log.warn("refresh failed; keeping the current configuration", { error: (err as Error).message });
        return false;
      } finally {
        refreshing = undefined;
      }
    })();
    return refreshing;
  };

  /** Changes are applied one at a time, in order, and never beside a full refresh. */
  let applying: Promise<unknown> = Promise.resolve();
  const applyChange = (change: DirectoryChange) => {
    applying = applying.then(async () => {
      await refreshing;
      try {
        if (!current) return;
        if (change.users.length + change.groups.length === 0) return; // credentials only
        const next = await kind.update?.(api, current.config, change);
        if (!next) return void setTimeout(() => void refresh(), reloadOffset);
        current = { ...current, config: next, saved: new Date().toISOString() };
        await kind.refresh(next);
        saveCache(cacheFile, current);
        updates.inc({ kind: "partial" });
        updated();
      } catch (err) {
        log.warn("partial update failed; refetching everything", { error: (err as Error).message });
        setTimeout(() => void refresh(), reloadOffset);
      }
    });
    return applying;
  };

  const channel = new ControlChannel({
    host: config.host,
    token: config.token,
    outpost: outpost.pk,
    instance,
    log,
    insecure: config.insecure,
    handlers: {
      triggerUpdate: (args) => {
        // Cached answers go at once. A change that names its objects is fetched at once (it is small);
        // a full refresh is spread out so replicas do not all ask together.
        kind.invalidate?.();
        const change = directoryChange(args);
        if (change && kind.update) void applyChange(change);
        else setTimeout(() => void refresh(), reloadOffset);
      },
      sessionEnd: (id) => kind.sessionEnd?.(id),
      providerSpecific: (args) => kind.providerSpecific?.(args),
      connectionChanged: (up) => {
        state.connected = up ? 1 : 0;
        connection.set(state.connected);
      },
    },
  });
  channel.start();
  const interval = setInterval(() => void refresh(), Math.max(30, outpost.refresh_interval_s || 300) * 1000);

  const listen = parseListen(config["listen.metrics"]) ?? { hostname: "0.0.0.0", port: 9300 };
  const metrics =
    options.metrics === false
      ? undefined
      : Bun.serve({
          hostname: listen.hostname,
          port: listen.port,
          async fetch(request) {
            const path = new URL(request.url).pathname;
            if (path === "/outpost.goauthentik.io/ping") return new Response(null, { status: 204 });
            if (path === "/metrics")
              return new Response(await registry.metrics(), {
                headers: { "content-type": registry.contentType },
              });
            return new Response("Not found", { status: 404 });
          },
        });

  const usr1 = () => void refresh();
  if (options.signals !== false) process.on("SIGUSR1", usr1);

  let stopped = false;
  return {
    instance,
    metrics: () => registry.metrics(),
    refresh,
    metricsPort: metrics ? (metrics.port ?? listen.port) : 0,
    async stop() {
      if (stopped) return;
      stopped = true;
      process.off("SIGUSR1", usr1);
      clearInterval(interval);
      channel.stop();
      await kind.stop();
      await metrics?.stop(true);
    },
  };
}
