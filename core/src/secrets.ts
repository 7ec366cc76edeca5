/**
 * Installation-wide secrets: the install id (feeds user uids) and the key that seals token keys.
 * Both live in the store's settings table so every replica sees the same ones; the secret key can
 * instead come from configuration, which keeps it out of database dumps.
 */
import { deriveKey, randomSecret } from "../../shared/crypto.ts";
import type { Logger } from "../../shared/log.ts";
import type { CoreConfig } from "./config/index.ts";
import type { Store } from "./store/index.ts";

export interface InstallSecrets {
  installId: string;
  sealKey: Buffer;
}

/** Reads a setting, creating it with `make()` first if absent; safe when replicas race. */
export async function ensureSetting(store: Store, key: string, make: () => string): Promise<string> {
  const existing = await store.db
    .selectFrom("settings")
    .select("value")
    .where("key", "=", key)
    .executeTakeFirst();
  if (existing) return existing.value;
  await store.db
    .insertInto("settings")
    .values({ key, value: make() })
    .onConflict((oc) => oc.column("key").doNothing())
    .execute();
  const row = await store.db
    .selectFrom("settings")
    .select("value")
    .where("key", "=", key)
    .executeTakeFirstOrThrow();
  return row.value;
}

export async function loadInstallSecrets(
  store: Store,
  config: CoreConfig,
  log: Logger,
): Promise<InstallSecrets> {
  const installId = await ensureSetting(store, "install_id", () => crypto.randomUUID());
  let secret = config.secret_key;
  if (!secret) {
    secret = await ensureSetting(store, "secret_key", () => randomSecret(32));
    if (store.kind === "postgres") {
      log.warn(
        "secret_key is not set; using a generated key kept in the store. Set GATEHOUSE_SECRET_KEY on every replica so a database dump alone does not reveal token keys.",
      );
    }
  }
  return { installId, sealKey: deriveKey(secret, "token-key-seal") };
}
