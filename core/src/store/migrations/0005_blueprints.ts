/** Blueprint instances: a blueprint from a file or from the API, and how its last application went. */
import type { Kysely } from "kysely";
import { columnTypes, type StoreKind, type StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>, kind: StoreKind): Promise<void> {
  const t = columnTypes(kind);
  await db.schema
    .createTable("blueprint_instances")
    .addColumn("instance_uuid", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull().unique())
    .addColumn("path", "text", (c) => c.notNull())
    .addColumn("context", t.json, (c) => c.notNull())
    .addColumn("last_applied", t.timestamp)
    .addColumn("last_applied_hash", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("enabled", t.bool, (c) => c.notNull())
    .addColumn("managed_models", t.json, (c) => c.notNull())
    .addColumn("metadata", t.json, (c) => c.notNull())
    .addColumn("content", "text", (c) => c.notNull())
    .execute();
}

export const migration0005: StoreMigration = { name: "0005_blueprints", up };
