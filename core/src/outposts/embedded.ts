/**
 * The embedded outposts: outpost objects the core makes for itself at start (managed, so they come back
 * if deleted) and runs in its own process through the same runtime a standalone outpost uses, talking
 * to this core over loopback HTTP with the outpost's own token. An operator assigns providers to them
 * through the API like to any outpost; a standalone binary can take over the same providers at any time.
 */

import type { RunningOutpost } from "../../../outposts/runtime/runtime.ts";
import type { Logger } from "../../../shared/log.ts";
import type { CoreContext } from "../context.ts";
import { revealKey } from "../tokens/service.ts";
import { DEFAULT_OUTPOST_CONFIG } from "./model.ts";
import { createOutpost, ensureOutpostIdentity, tokenIdentifier } from "./service.ts";

export const EMBEDDED_LDAP_MANAGED = "goauthentik.io/outposts/embedded-ldap";
export const EMBEDDED_LDAP_NAME = "Embedded LDAP Outpost";

/** Makes the embedded outpost objects exist (with their service account and token). */
export async function ensureEmbeddedOutposts(ctx: CoreContext): Promise<void> {
  await ctx.store.db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom("outposts")
      .selectAll()
      .where("managed", "=", EMBEDDED_LDAP_MANAGED)
      .executeTakeFirst();
    if (row) {
      await ensureOutpostIdentity(ctx, trx, row);
      return;
    }
    // Someone may have taken the name for an outpost of their own: keep theirs, name ours apart.
    const taken = await trx
      .selectFrom("outposts")
      .select("outpost_uuid")
      .where("name", "=", EMBEDDED_LDAP_NAME)
      .executeTakeFirst();
    await createOutpost(ctx, trx, {
      name: taken ? `${EMBEDDED_LDAP_NAME} (managed)` : EMBEDDED_LDAP_NAME,
      type: "ldap",
      providers: [],
      config: { ...DEFAULT_OUTPOST_CONFIG },
      managed: EMBEDDED_LDAP_MANAGED,
    });
  });
}

export interface EmbeddedOutposts {
  /** The running LDAP outpost, once it has a provider to serve. */
  ldap(): RunningOutpost | undefined;
  /** The ports the embedded LDAP outpost listens on (plain, TLS), once started. */
  ldapPorts(): { ldap: number; ldaps: number | undefined } | undefined;
  stop(): Promise<void>;
}

/**
 * Runs the embedded outposts against the core at `coreUrl`. The LDAP outpost starts once it has a
 * provider (at start, or when one is assigned to it): until then the core loads no LDAP code and opens
 * no LDAP port. A listener that cannot start (its port is taken by a standalone outpost on the same
 * host, say) is logged and skipped: the core keeps serving.
 */
export async function startEmbeddedOutposts(
  ctx: CoreContext,
  coreUrl: string,
  log: Logger,
): Promise<EmbeddedOutposts> {
  const none: EmbeddedOutposts = { ldap: () => undefined, ldapPorts: () => undefined, stop: async () => {} };
  if (!ctx.config["outposts.embedded"]) return none;
  const row = await ctx.store.db
    .selectFrom("outposts")
    .select("outpost_uuid")
    .where("managed", "=", EMBEDDED_LDAP_MANAGED)
    .executeTakeFirst();
  if (!row) return none;
  const uuid = row.outpost_uuid;

  let running: RunningOutpost | undefined;
  let server: (() => { port: number; tlsPort: number | undefined } | undefined) | undefined;
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
    // Loaded here, not at the top: ldapjs and the runtime are only needed when the outpost runs.
    const [{ parseListen }, { ldapKind }, { runOutpost }] = await Promise.all([
      import("../../../shared/config/load.ts"),
      import("../../../outposts/ldap/kind.ts"),
      import("../../../outposts/runtime/runtime.ts"),
    ]);
    const key = revealKey(ctx, token);
    const kind = ldapKind({
      host: coreUrl,
      token: key,
      listen: parseListen(ctx.config["listen.ldap"]) ?? { hostname: "0.0.0.0", port: 3389 },
      listenTls: parseListen(ctx.config["listen.ldaps"]) ?? { hostname: "0.0.0.0", port: 6636 },
    });
    try {
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
        { log: log.child({ outpost: "embedded-ldap" }), signals: false, metrics: false },
      );
      server = () => kind.server();
      if (stopped) await running.stop();
      else
        log.info("embedded LDAP outpost listening", {
          ldap: kind.server()?.port,
          ldaps: kind.server()?.tlsPort,
        });
    } catch (err) {
      log.error("the embedded LDAP outpost could not start; the core keeps running without it", {
        error: (err as Error).message,
        listen: ctx.config["listen.ldap"],
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
    ldap: () => running,
    ldapPorts: () => {
      const s = server?.();
      return s && { ldap: s.port, ldaps: s.tlsPort };
    },
    stop: async () => {
      stopped = true;
      unsubscribe();
      await starting;
      await running?.stop();
    },
  };
}
