/**
 * The embedded outposts: outpost objects the core makes for itself at start (managed, so they come back
 * if deleted) and runs in its own process through the same runtime a standalone outpost uses, talking
 * to this core over loopback HTTP with the outpost's own token. An operator assigns providers to them
 * through the API like to any outpost; a standalone binary can take over the same providers at any time.
 * LDAP and RADIUS open ports of their own; the proxy one ("authentik Embedded Outpost", reference §1.8)
 * has none: the core's HTTP edge hands it its requests, and it stops when it has no provider left.
 */

import type { OutpostKind, RunningOutpost } from "../../../outposts/runtime/runtime.ts";
import { parseListen } from "../../../shared/config/load.ts";
import type { Logger } from "../../../shared/log.ts";
import type { CoreContext } from "../context.ts";
import { revealKey } from "../tokens/service.ts";
import type { EmbeddedProxyRoutes } from "./embedded-proxy.ts";
import { DEFAULT_OUTPOST_CONFIG } from "./model.ts";
import { createOutpost, ensureOutpostIdentity, tokenIdentifier } from "./service.ts";

export const EMBEDDED_LDAP_MANAGED = "goauthentik.io/outposts/embedded-ldap";
export const EMBEDDED_LDAP_NAME = "Embedded LDAP Outpost";
export const EMBEDDED_RADIUS_MANAGED = "goauthentik.io/outposts/embedded-radius";
export const EMBEDDED_RADIUS_NAME = "Embedded RADIUS Outpost";
export const EMBEDDED_PROXY_MANAGED = "goauthentik.io/outposts/embedded";
export const EMBEDDED_PROXY_NAME = "authentik Embedded Outpost";

type Listen = { hostname: string; port: number };
type EmbeddedType = "ldap" | "radius" | "proxy";

type EmbeddedKind = OutpostKind<unknown> & {
  ports(): Record<string, number | undefined>;
  /** Once started, and once stopped: the proxy kind joins and leaves the core's HTTP edge. */
  started?(): void;
  stopped?(): void;
};

/** What an embedded outpost of one type is: its managed object, and how to build its kind. */
interface EmbeddedSpec {
  type: EmbeddedType;
  managed: string;
  name: string;
  /** The setting naming its listener, for the log when it cannot start. */
  listenSetting?: string;
  /** Stop it when its last provider goes (the proxy: its hosts go back to the core at once). */
  stopWhenEmpty?: boolean;
  kind(
    ctx: CoreContext,
    host: string,
    token: string,
    edge: EmbeddedProxyRoutes | undefined,
  ): Promise<EmbeddedKind>;
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
  {
    type: "proxy",
    managed: EMBEDDED_PROXY_MANAGED,
    name: EMBEDDED_PROXY_NAME,
    stopWhenEmpty: true,
    async kind(_ctx, host, _token, edge) {
      if (!edge) throw new Error("the embedded proxy outpost needs the core's HTTP edge");
      const { proxyKind } = await import("../../../outposts/proxy/kind.ts");
      const kind = proxyKind({
        host,
        hostBrowser: "",
        insecure: false,
        listen: null,
        browserFromOutpost: true,
        onApplications: (apps) => edge.applications(apps),
      });
      return Object.assign(kind as OutpostKind<unknown>, {
        ports: () => ({}),
        started: () => edge.attach(kind),
        stopped: () => edge.detach(),
      });
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
  running(type: EmbeddedType): RunningOutpost | undefined;
  /** Where it listens, once started: { ldap, ldaps }, { radius } or {} (the proxy: the core's port). */
  ports(type: EmbeddedType): Record<string, number | undefined> | undefined;
  stop(): Promise<void>;
}

/**
 * Runs the embedded outposts against the core at `coreUrl`. Each starts once it has a provider (at
 * start, or when one is assigned to it): until then the core loads none of its code and opens no port.
 * A listener that cannot start (its port is taken by a standalone outpost on the same host, say) is
 * logged and skipped: the core keeps serving. The proxy one runs only given the core's HTTP edge
 * (`startServer(...).embeddedProxy`), which it serves through.
 */
export async function startEmbeddedOutposts(
  ctx: CoreContext,
  coreUrl: string,
  log: Logger,
  edge?: EmbeddedProxyRoutes,
): Promise<EmbeddedOutposts> {
  if (!ctx.config["outposts.embedded"])
    return { running: () => undefined, ports: () => undefined, stop: async () => {} };
  const specs = EMBEDDED.filter((spec) => spec.type !== "proxy" || edge);
  const started = await Promise.all(specs.map((spec) => startOne(ctx, coreUrl, log, spec, edge)));
  const of = (type: string) => started.find((s) => s?.type === type);
  return {
    running: (type) => of(type)?.running(),
    ports: (type) => of(type)?.ports(),
    stop: async () => {
      await Promise.all(started.map((s) => s?.stop()));
    },
  };
}

async function startOne(
  ctx: CoreContext,
  coreUrl: string,
  log: Logger,
  spec: EmbeddedSpec,
  edge: EmbeddedProxyRoutes | undefined,
) {
  const row = await ctx.store.db
    .selectFrom("outposts")
    .select("outpost_uuid")
    .where("managed", "=", spec.managed)
    .executeTakeFirst();
  if (!row) return undefined;
  const uuid = row.outpost_uuid;

  let running: RunningOutpost | undefined;
  let kind: EmbeddedKind | undefined;
  let stopped = false;
  // Starts and stops one at a time, in the order the signals came.
  let queue: Promise<void> = Promise.resolve();

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
      const [built, { runOutpost }] = await Promise.all([
        spec.kind(ctx, coreUrl, key, edge),
        import("../../../outposts/runtime/runtime.ts"),
      ]);
      running = await runOutpost(
        built,
        {
          host: coreUrl,
          token: key,
          insecure: false,
          host_browser: "",
          data_dir: ctx.config.data_dir,
          "listen.metrics": "",
          "log.level": ctx.config["log.level"],
        },
        {
          log: log.child({ outpost: `embedded-${spec.type}` }),
          signals: false,
          metrics: false,
          // One per core: no fleet to spread refreshes over.
          reloadOffsetMs: 0,
        },
      );
      kind = built;
      built.started?.();
      if (spec.type === "proxy") log.info("embedded proxy outpost serving on the core's port");
      else log.info(`embedded ${spec.type} outpost listening`, built.ports());
    } catch (err) {
      log.error(`the embedded ${spec.type} outpost could not start; the core keeps running without it`, {
        error: (err as Error).message,
        ...(spec.listenSetting && { listen: ctx.config[spec.listenSetting as "listen.ldap"] }),
      });
    }
  };

  const halt = async () => {
    kind?.stopped?.();
    await running?.stop();
    running = undefined;
    kind = undefined;
  };

  const reconcile = () => {
    queue = queue
      .then(async () => {
        if (stopped) return;
        const wanted = await hasProviders();
        if (wanted && !running) await start();
        else if (!wanted && running && spec.stopWhenEmpty) {
          await halt();
          log.info(`embedded ${spec.type} outpost stopped: it has no provider left`);
        }
      })
      .catch((err) =>
        log.error(`the embedded ${spec.type} outpost could not be started or stopped`, {
          code: "OP0041EmbeddedReconcile",
          error: (err as Error).message,
        }),
      );
    return queue;
  };

  // Assigning a provider to the embedded outpost (on any replica) is what starts it.
  const unsubscribe = ctx.signals.on((signal) => {
    if (
      (signal.kind === "outpost_changed" && signal.outpost === uuid) ||
      signal.kind === "all_outposts_changed"
    )
      void reconcile();
  });
  await reconcile();

  return {
    type: spec.type,
    running: () => running,
    ports: () => kind?.ports(),
    stop: async () => {
      stopped = true;
      unsubscribe();
      await queue;
      await halt();
    },
  };
}
