/** Applications: what users see and what policies guard, each with at most one provider. */
import type { Kysely } from "kysely";
import { columnTypes, type StoreKind, type StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>, kind: StoreKind): Promise<void> {
  const t = columnTypes(kind);
  await db.schema
    .createTable("applications")
    .addColumn("app_uuid", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("slug", "text", (c) => c.notNull().unique())
    .addColumn("provider", "integer", (c) => c.unique().references("providers.id").onDelete("set null"))
    .addColumn("open_in_new_tab", t.bool, (c) => c.notNull())
    .addColumn("meta_launch_url", "text", (c) => c.notNull())
    .addColumn("meta_icon", "text", (c) => c.notNull())
    .addColumn("meta_description", "text", (c) => c.notNull())
    .addColumn("meta_publisher", "text", (c) => c.notNull())
    .addColumn("policy_engine_mode", "text", (c) => c.notNull())
    .addColumn("group", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("application_backchannel_providers")
    .addColumn("app_uuid", "text", (c) => c.notNull().references("applications.app_uuid").onDelete("cascade"))
    .addColumn("provider", "integer", (c) =>
      c.notNull().unique().references("providers.id").onDelete("cascade"),
    )
    .addPrimaryKeyConstraint("application_backchannel_pk", ["app_uuid", "provider"])
    .execute();
}

export const migration0010: StoreMigration = { name: "0010_applications", up };
