/** Providers (the typed kinds come with their outposts), outposts, their providers, and live instances. */
import type { Kysely } from "kysely";
import { columnTypes, type StoreKind, type StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>, kind: StoreKind): Promise<void> {
  const t = columnTypes(kind);
  const autoincrement = kind === "sqlite";
  await db.schema
    .createTable("providers")
    .addColumn("id", t.serial, (c) => (autoincrement ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn("name", "text", (c) => c.notNull().unique())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("authorization_flow", "text", (c) => c.references("flows.flow_uuid").onDelete("set null"))
    .addColumn("invalidation_flow", "text", (c) => c.references("flows.flow_uuid").onDelete("set null"))
    .addColumn("config", t.json, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("outposts")
    .addColumn("outpost_uuid", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull().unique())
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("config", t.json, (c) => c.notNull())
    .addColumn("managed", "text", (c) => c.unique())
    .addColumn("user_id", "integer", (c) => c.references("users.id").onDelete("set null"))
    .execute();

  await db.schema
    .createTable("outpost_providers")
    .addColumn("outpost_uuid", "text", (c) =>
      c.notNull().references("outposts.outpost_uuid").onDelete("cascade"),
    )
    .addColumn("provider_id", "integer", (c) => c.notNull().references("providers.id").onDelete("cascade"))
    .addPrimaryKeyConstraint("outpost_providers_pk", ["outpost_uuid", "provider_id"])
    .execute();

  await db.schema
    .createTable("outpost_states")
    .addColumn("outpost_uuid", "text", (c) =>
      c.notNull().references("outposts.outpost_uuid").onDelete("cascade"),
    )
    .addColumn("instance_uid", "text", (c) => c.notNull())
    .addColumn("last_seen", t.timestamp, (c) => c.notNull())
    .addColumn("version", "text", (c) => c.notNull())
    .addColumn("build_hash", "text", (c) => c.notNull())
    .addColumn("hostname", "text", (c) => c.notNull())
    .addColumn("args", t.json, (c) => c.notNull())
    .addPrimaryKeyConstraint("outpost_states_pk", ["outpost_uuid", "instance_uid"])
    .execute();
}

export const migration0008: StoreMigration = { name: "0008_outposts", up };
