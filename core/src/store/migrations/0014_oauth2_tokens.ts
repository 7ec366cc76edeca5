/** Tokens an OAuth2 provider issued, by the hash of their value: for introspection and revocation. */
import type { Kysely } from "kysely";
import { columnTypes, type StoreKind, type StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>, kind: StoreKind): Promise<void> {
  const t = columnTypes(kind);
  await db.schema
    .createTable("oauth2_tokens")
    .addColumn("token_hash", "text", (c) => c.primaryKey())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("provider_id", "integer", (c) => c.notNull().references("providers.id").onDelete("cascade"))
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("scope", "text", (c) => c.notNull())
    .addColumn("claims", t.json, (c) => c.notNull())
    .addColumn("created", t.timestamp, (c) => c.notNull())
    .addColumn("expires", t.timestamp, (c) => c.notNull())
    .addColumn("revoked", t.bool, (c) => c.notNull())
    .execute();
  await db.schema.createIndex("oauth2_tokens_expires").on("oauth2_tokens").column("expires").execute();
}

export const migration0014: StoreMigration = { name: "0014_oauth2_tokens", up };
