/**
 * The embedded outposts: outpost objects the core makes for itself at start (managed, so they come back
 * if deleted) and runs in its own process through the same runtime a standalone outpost uses, talking
 * to this core over loopback HTTP with the outpost's own token. An operator assigns providers to them
 * through the API like to any outpost; a standalone binary can take over the same providers at any time.
 */

import type { OutpostKind, RunningOutpost } from "../../../outposts/runtime/runtime.ts";
import { parseListen } from "../../../shared/config/load.ts";
import type { Logger } from "../../../shared/log.ts";
import type { CoreContext } from "../context.ts";
import { revealKey } from "../tokens/service.ts";
import { DEFAULT_OUTPOST_CONFIG } from "./model.ts";
import { createOutpost, ensureOutpostIdentity, tokenIdentifier } from "./service.ts";

export const EMBEDDED_LDAP_MANAGED = "goauthentik.io/outposts/embedded-ldap";
export const EMBEDDED_LDAP_NAME = "Embedded LDAP Outpost";
export const EMBEDDED_RADIUS_MANAGED = "goauthentik.io/outposts/embedded-radius";
export const EMBEDDED_RADIUS_NAME = "Embedded RADIUS Outpost";

type Listen = { hostname: string; port: number };

/** What an embedded outpost of one type is: its managed object, and how to build its kind. */
interface EmbeddedSpec {
  type: "ldap" | "radius";
  managed: string;
  name: string;
  /** The setting naming its listener, for the log when it cannot start. */
  listenSetting: string;
  kind(
    ctx: CoreContext,
    host: string,
    token: string,
  ): Promise<OutpostKind<unknown> & { ports(): Record<string, number | undefined> }>;
}

const listenOf = (value: string, fallback: Listen): Listen => parseListen(value) ?? fallback;

// The kinds are loaded when an outpost starts, not at the top: most cores serve neither.
const EMBEDDED: EmbeddedSpec[] = [
  {
    type: "ldap",
    managed: EMBEDDED_LDAP_MANAGED,
    name: EMBEDDED_LDAP_NAME,
    listenSetting: "listen.ldap",
    async kind(ctx, host, token) {
      const { ldapKind } = await import("../../../outposts/ldap/kind.ts");
      const kind = ldapKind({
        host,
        token,
        listen: listenOf(ctx.config["listen.ldap"], { hostname: "0.0.0.0", port: 3389 }),
        listenTls: listenOf(ctx.config["listen.ldaps"], { hostname: "0.0.0.0", port: 6636 }),
      });
      return Object.assign(kind as OutpostKind<unknown>, {
        ports: () => ({ ldap: kind.server()?.port, ldaps: kind.server()?.tlsPort }),
      });
    },
  },
  {
    type: "radius",
    managed: EMBEDDED_RADIUS_MANAGED,
    name: EMBEDDED_RADIUS_NAME,
    listenSetting: "listen.radius",
    async kind(ctx, host, token) {
      const { radiusKind } = await import("../../../outposts/radius/kind.ts");
      const kind = radiusKind({
        host,
        token,
        listen: listenOf(ctx.config["listen.radius"], { hostname: "0.0.0.0", port: 1812 }),
      });
      return Object.assign(kind as OutpostKind<unknown>, { ports: () => ({ radius: kind.server()?.port }) });
    },
  },
];

/** Makes the embedded outpost objects exist (with their service accounts and tokens). */
export async function ensureEmbeddedOutposts(ctx: CoreContext): Promise<void> {
  for (const spec of EMBEDDED) {
    await ctx.store.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom("outposts")
        .selectAll()
        .where("managed", "=", spec.managed)
        .executeTakeFirst();
      if (row) {
        await ensureOutpostIdentity(ctx, trx, row);
        return;
      }
      // Someone may have taken the name for an outpost of their own: keep theirs, name ours apart.
      const taken = await trx
        .selectFrom("outposts")
        .select("outpost_uuid")
        .where("name", "=", spec.name)
        .executeTakeFirst();
      await createOutpost(ctx, trx, {
        name: taken ? `${spec.name} (managed)` : spec.name,
        type: spec.type,
        providers: [],
        config: { ...DEFAULT_OUTPOST_CONFIG },
        managed: spec.managed,
      });
    });
  }
}

export interface EmbeddedOutposts {
  /** The running embedded outpost of this type, once it has a provider to serve. */
  running(type: "ldap" | "radius"): RunningOutpost | undefined;
  /** Where it listens, once started: { ldap, ldaps } or { radius }. */
  ports(type: "ldap" | "radius"): Record<string, number | undefined> | undefined;
  stop(): Promise<void>;
}

/**
 * Runs the embedded outposts against the core at `coreUrl`. Each starts once it has a provider (at
 * start, or when one is assigned to it): until then the core loads none of its code and opens no port.
 * A listener that cannot start (its port is taken by a standalone outpost on the same host, say) is
 * logged and skipped: the core keeps serving.
 */
export async function startEmbeddedOutposts(
  ctx: CoreContext,
  coreUrl: string,
  log: Logger,
): Promise<EmbeddedOutposts> {
  if (!ctx.config["outposts.embedded"])
    return { running: () => undefined, ports: () => undefined, stop: async () => {} };
  const started = await Promise.all(EMBEDDED.map((spec) => startOne(ctx, coreUrl, log, spec)));
  const of = (type: string) => started.find((s) => s?.type === type);
  return {
    running: (type) => of(type)?.running(),
    ports: (type) => of(type)?.ports(),
    stop: async () => {
      await Promise.all(started.map((s) => s?.stop()));
    },
  };
}

async function startOne(ctx: CoreContext, coreUrl: string, log: Logger, spec: EmbeddedSpec) {
  const row = await ctx.store.db
    .selectFrom("outposts")
    .select("outpost_uuid")
    .where("managed", "=", spec.managed)
    .executeTakeFirst();
  if (!row) return undefined;
  const uuid = row.outpost_uuid;

  let running: RunningOutpost | undefined;
  let ports: (() => Record<string, number | undefined>) | undefined;
  let starting: Promise<void> | undefined;
  let stopped = false;

  const hasProviders = async () =>
    Boolean(
      await ctx.store.db
        .selectFrom("outpost_providers")
        .select("provider_id")
        .where("outpost_uuid", "=", uuid)
        .executeTakeFirst(),
    );

  const start = async () => {
    const token = await ctx.store.db
      .selectFrom("tokens")
      .selectAll()
      .where("identifier", "=", tokenIdentifier(uuid))
      .executeTakeFirst();
    if (!token) return;
    const key = revealKey(ctx, token);
    try {
      const [kind, { runOutpost }] = await Promise.all([
        spec.kind(ctx, coreUrl, key),
        import("../../../outposts/runtime/runtime.ts"),
      ]);
      running = await runOutpost(
        kind,
        {
          host: coreUrl,
          token: key,
          insecure: false,
          host_browser: "",
          data_dir: ctx.config.data_dir,
          "listen.metrics": "",
          "log.level": ctx.config["log.level"],
        },
        { log: log.child({ outpost: `embedded-${spec.type}` }), signals: false, metrics: false },
      );
      ports = () => kind.ports();
      if (stopped) await running.stop();
      else log.info(`embedded ${spec.type} outpost listening`, kind.ports());
    } catch (err) {
      log.error(`the embedded ${spec.type} outpost could not start; the core keeps running without it`, {
        error: (err as Error).message,
        listen: ctx.config[spec.listenSetting as "listen.ldap"],
      });
    }
  };

  const maybeStart = () => {
    if (running || starting || stopped) return starting;
    starting = (async () => {
      if (await hasProviders()) await start();
    })().finally(() => {
      starting = undefined;
    });
    return starting;
  };

  // Assigning a provider to the embedded outpost (on any replica) is what starts it.
  const unsubscribe = ctx.signals.on((signal) => {
    if (
      (signal.kind === "outpost_changed" && signal.outpost === uuid) ||
      signal.kind === "all_outposts_changed"
    )
      void maybeStart();
  });
  await maybeStart();

  return {
    type: spec.type,
    running: () => running,
    ports: () => ports?.(),
    stop: async () => {
      stopped = true;
      unsubscribe();
      await starting;
      await running?.stop();
    },
  };
}
