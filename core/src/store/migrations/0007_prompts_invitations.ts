/** Prompt fields, invitations, flow tokens (emailed links that resume a flow) and remembered consents. */
import type { Kysely } from "kysely";
import { columnTypes, type StoreKind, type StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>, kind: StoreKind): Promise<void> {
  const t = columnTypes(kind);
  await db.schema
    .createTable("prompts")
    .addColumn("prompt_uuid", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull().unique())
    .addColumn("field_key", "text", (c) => c.notNull())
    .addColumn("label", "text", (c) => c.notNull())
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("required", t.bool, (c) => c.notNull())
    .addColumn("placeholder", "text", (c) => c.notNull())
    .addColumn("initial_value", "text", (c) => c.notNull())
    .addColumn("order", "integer", (c) => c.notNull())
    .addColumn("sub_text", "text", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("invitations")
    .addColumn("invite_uuid", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull().unique())
    .addColumn("expires", t.timestamp)
    .addColumn("fixed_data", t.json, (c) => c.notNull())
    .addColumn("single_use", t.bool, (c) => c.notNull())
    .addColumn("flow", "text", (c) => c.references("flows.flow_uuid").onDelete("cascade"))
    .addColumn("created_by", "integer", (c) => c.references("users.id").onDelete("set null"))
    .addColumn("created", t.timestamp, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("flow_tokens")
    .addColumn("token_hash", "text", (c) => c.primaryKey())
    .addColumn("flow_slug", "text", (c) => c.notNull())
    .addColumn("user_id", "integer", (c) => c.references("users.id").onDelete("cascade"))
    .addColumn("plan", t.json, (c) => c.notNull())
    .addColumn("expires", t.timestamp, (c) => c.notNull())
    .execute();
  await db.schema.createIndex("flow_tokens_expires").on("flow_tokens").column("expires").execute();

  await db.schema
    .createTable("user_consents")
    .addColumn("consent_uuid", "text", (c) => c.primaryKey())
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("target", "text", (c) => c.notNull())
    .addColumn("permissions", "text", (c) => c.notNull())
    .addColumn("expires", t.timestamp)
    .addUniqueConstraint("user_consents_user_target", ["user_id", "target"])
    .execute();
}

export const migration0007: StoreMigration = { name: "0007_prompts_invitations", up };
