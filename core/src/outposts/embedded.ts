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
  ldap: RunningOutpost | undefined;
  /** The ports the embedded LDAP outpost listens on (plain, TLS), once started. */
  ldapPorts(): { ldap: number; ldaps: number | undefined } | undefined;
  stop(): Promise<void>;
}

/**
 * Starts the embedded outposts against the core at `coreUrl`. A listener that cannot start (its port is
 * taken by a standalone outpost on the same host, say) is logged and skipped: the core keeps serving.
 */
export async function startEmbeddedOutposts(
  ctx: CoreContext,
  coreUrl: string,
  log: Logger,
): Promise<EmbeddedOutposts> {
  const none: EmbeddedOutposts = { ldap: undefined, ldapPorts: () => undefined, stop: async () => {} };
  if (!ctx.config["outposts.embedded"]) return none;
  const row = await ctx.store.db
    .selectFrom("outposts")
    .select("outpost_uuid")
    .where("managed", "=", EMBEDDED_LDAP_MANAGED)
    .executeTakeFirst();
  const token = row
    ? await ctx.store.db
        .selectFrom("tokens")
        .selectAll()
        .where("identifier", "=", tokenIdentifier(row.outpost_uuid))
        .executeTakeFirst()
    : undefined;
  if (!token) return none;

  // Loaded here, not at the top: ldapjs and the runtime are only needed when the outpost runs.
  const [{ parseListen }, { ldapKind }, { runOutpost }] = await Promise.all([
    import("../../../shared/config/load.ts"),
    import("../../../outposts/ldap/kind.ts"),
    import("../../../outposts/runtime/runtime.ts"),
  ]);
  const kind = ldapKind({
    host: coreUrl,
    token: revealKey(ctx, token),
    listen: parseListen(ctx.config["listen.ldap"]) ?? { hostname: "0.0.0.0", port: 3389 },
    listenTls: parseListen(ctx.config["listen.ldaps"]) ?? { hostname: "0.0.0.0", port: 6636 },
  });
  const outpostLog = log.child({ outpost: "embedded-ldap" });
  try {
    const ldap = await runOutpost(
      kind,
      {
        host: coreUrl,
        token: revealKey(ctx, token),
        insecure: false,
        host_browser: "",
        data_dir: ctx.config.data_dir,
        "listen.metrics": "",
        "log.level": ctx.config["log.level"],
      },
      { log: outpostLog, signals: false, metrics: false },
    );
    const server = kind.server();
    log.info("embedded LDAP outpost listening", { ldap: server?.port, ldaps: server?.tlsPort });
    return {
      ldap,
      ldapPorts: () => {
        const s = kind.server();
        return s && { ldap: s.port, ldaps: s.tlsPort };
      },
      stop: () => ldap.stop(),
    };
  } catch (err) {
    log.error("the embedded LDAP outpost could not start; the core keeps running without it", {
      error: (err as Error).message,
      listen: ctx.config["listen.ldap"],
    });
    return none;
  }
}
