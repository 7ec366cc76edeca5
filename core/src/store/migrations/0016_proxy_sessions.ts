/**
 * Proxy outpost sessions, kept in the core so outpost replicas and restarts share them: by the hash of
 * the proxy cookie's value, bound to the OAuth2 grant they came from and to the core session behind it
 * (SESSION_END ends them), with the claims to pass upstream and the raw token sealed by the outpost with
 * a key only the cookie's holder has.
 */
import type { Kysely } from "kysely";
import { columnTypes, type StoreKind, type StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>, kind: StoreKind): Promise<void> {
  const t = columnTypes(kind);
  await db.schema
    .createTable("proxy_sessions")
    .addColumn("session_hash", "text", (c) => c.primaryKey())
    .addColumn("provider_id", "integer", (c) => c.notNull().references("providers.id").onDelete("cascade"))
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("core_session_hash", "text")
    .addColumn("claims", t.json, (c) => c.notNull())
    .addColumn("sealed_token", "text", (c) => c.notNull())
    .addColumn("created", t.timestamp, (c) => c.notNull())
    .addColumn("expires", t.timestamp, (c) => c.notNull())
    .execute();
  await db.schema.createIndex("proxy_sessions_expires").on("proxy_sessions").column("expires").execute();
  await db.schema
    .createIndex("proxy_sessions_core_session")
    .on("proxy_sessions")
    .column("core_session_hash")
    .execute();
}

export const migration0016: StoreMigration = { name: "0016_proxy_sessions", up };
