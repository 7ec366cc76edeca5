/**
 * What every core service is handed: the store, the clock, the logger and the configuration.
 * Services take these explicitly; none reaches for a global.
 */
import type { Kysely, Transaction } from "kysely";
import type { Logger } from "../../shared/log.ts";
import type { CoreConfig } from "./config/index.ts";
import type { Signals } from "./signals.ts";
import type { Database, Store } from "./store/index.ts";

export type Clock = () => Date;
export const systemClock: Clock = () => new Date();

/** A query handle: the store's Kysely, or a transaction opened on it. */
export type Db = Kysely<Database> | Transaction<Database>;

export interface CoreContext {
  readonly store: Store;
  readonly config: CoreConfig;
  readonly log: Logger;
  readonly clock: Clock;
  /** Key for sealing secrets that must be shown again (token keys). */
  readonly sealKey: Buffer;
  /** Random per-installation id; feeds the stable user `uid`. */
  readonly installId: string;
  /** Changes other parts react to (outposts told to refresh, sessions ended). */
  readonly signals: Signals;
}

/** Runs `fn` in one transaction: the write and its events land together or not at all. */
export function inTransaction<T>(
  ctx: CoreContext,
  fn: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  return ctx.store.db.transaction().execute(fn);
}
