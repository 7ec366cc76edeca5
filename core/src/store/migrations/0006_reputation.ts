/** Reputation scores per (identifier, client address), lowered by failed logins and raised by good ones. */
import type { Kysely } from "kysely";
import { columnTypes, type StoreKind, type StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>, kind: StoreKind): Promise<void> {
  const t = columnTypes(kind);
  await db.schema
    .createTable("reputations")
    .addColumn("reputation_uuid", "text", (c) => c.primaryKey())
    .addColumn("identifier", "text", (c) => c.notNull())
    .addColumn("ip", "text", (c) => c.notNull())
    .addColumn("score", "integer", (c) => c.notNull())
    .addColumn("updated", t.timestamp, (c) => c.notNull())
    .addColumn("expires", t.timestamp, (c) => c.notNull())
    .addUniqueConstraint("reputations_identifier_ip", ["identifier", "ip"])
    .execute();
  await db.schema.createIndex("reputations_ip").on("reputations").column("ip").execute();
  await db.schema.createIndex("reputations_expires").on("reputations").column("expires").execute();
}

export const migration0006: StoreMigration = { name: "0006_reputation", up };
