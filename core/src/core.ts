/**
 * Assembles a core from configuration: store (SQLite or PostgreSQL), migrations, install secrets,
 * bootstrap and the HTTP application. The CLI and the tests both start here.
 */
import { join } from "node:path";
import type { Logger } from "../../shared/log.ts";
import { buildApp, type CoreApp } from "./api/app.ts";
import { applyFileBlueprints, blueprintDirs } from "./blueprints/instances.ts";
import { type BootstrapResult, bootstrap } from "./bootstrap.ts";
import type { CoreConfig } from "./config/index.ts";
import { type Clock, type CoreContext, systemClock } from "./context.ts";
import { type CoreMetrics, createMetrics } from "./metrics.ts";
import { endTokensWithSessions } from "./oauth2/backchannel.ts";
import { ensureEmbeddedOutposts } from "./outposts/embedded.ts";
import { OutpostHub } from "./outposts/hub.ts";
import { ensureDefaultScopeMappings } from "./providers/scope-mappings.ts";
import { loadInstallSecrets } from "./secrets.ts";
import { Signals } from "./signals.ts";
import { openStore, type Store, type StoreOptions } from "./store/index.ts";
import { migrateToLatest } from "./store/migrate.ts";

export interface Core {
  ctx: CoreContext;
  hub: OutpostHub;
  app: CoreApp;
  metrics: CoreMetrics;
  bootstrap: BootstrapResult;
  close(): Promise<void>;
}

export function storeOptions(config: CoreConfig): StoreOptions {
  const poolMax = config["postgresql.pool_max"];
  if (config["postgresql.url"]) return { kind: "postgres", url: config["postgresql.url"], poolMax };
  if (config["postgresql.host"]) {
    return {
      kind: "postgres",
      host: config["postgresql.host"],
      port: config["postgresql.port"],
      database: config["postgresql.name"],
      user: config["postgresql.user"],
      password: config["postgresql.password"],
      poolMax,
    };
  }
  return { kind: "sqlite", path: join(config.data_dir, "gatehouse.db") };
}

export async function openMigratedStore(config: CoreConfig, log: Logger): Promise<Store> {
  const store = openStore(storeOptions(config));
  try {
    const { applied } = await migrateToLatest(store.db, store.kind);
    if (applied.length > 0)
      log.info("store migrated", { applied, store: store.kind, location: store.location });
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

export async function createCore(config: CoreConfig, log: Logger, clock: Clock = systemClock): Promise<Core> {
  const store = await openMigratedStore(config, log);
  const secrets = await loadInstallSecrets(store, config, log);
  const signals = new Signals();
  if (store.pubsub) await signals.relay(store.pubsub);
  const ctx: CoreContext = { store, config, log, clock, signals, ...secrets };
  const result = await bootstrap(ctx);
  await ensureEmbeddedOutposts(ctx);
  await ensureDefaultScopeMappings(ctx);
  await applyFileBlueprints(ctx, blueprintDirs(config.blueprints_dir));
  const metrics = createMetrics(store, config["postgresql.pool_max"]);
  const app = buildApp(ctx, metrics);
  const hub = new OutpostHub(ctx);
  const sessionTokens = endTokensWithSessions(ctx);
  return {
    ctx,
    hub,
    app,
    metrics,
    bootstrap: result,
    close: async () => {
      hub.stop();
      await sessionTokens.stop();
      await signals.close();
      await store.close();
    },
  };
}
