/** Users, groups (with several parents), memberships, tokens, sessions, events and settings. */
import type { Kysely } from "kysely";
import { columnTypes, type StoreKind, type StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>, kind: StoreKind): Promise<void> {
  const t = columnTypes(kind);
  const autoincrement = kind === "sqlite";

  await db.schema
    .createTable("users")
    .addColumn("id", t.serial, (c) => (autoincrement ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn("uuid", "text", (c) => c.notNull().unique())
    .addColumn("username", "text", (c) => c.notNull().unique())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("email", "text", (c) => c.notNull())
    .addColumn("password", "text")
    .addColumn("password_change_date", t.timestamp, (c) => c.notNull())
    .addColumn("is_active", t.bool, (c) => c.notNull())
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("path", "text", (c) => c.notNull())
    .addColumn("attributes", t.json, (c) => c.notNull())
    .addColumn("last_login", t.timestamp)
    .addColumn("date_joined", t.timestamp, (c) => c.notNull())
    .addColumn("last_updated", t.timestamp, (c) => c.notNull())
    .execute();
  await db.schema.createIndex("users_email").on("users").column("email").execute();
  await db.schema.createIndex("users_path").on("users").column("path").execute();

  await db.schema
    .createTable("groups")
    .addColumn("num_pk", t.serial, (c) => (autoincrement ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn("group_uuid", "text", (c) => c.notNull().unique())
    .addColumn("name", "text", (c) => c.notNull().unique())
    .addColumn("is_superuser", t.bool, (c) => c.notNull())
    .addColumn("attributes", t.json, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("group_parents")
    .addColumn("group_id", "integer", (c) => c.notNull().references("groups.num_pk").onDelete("cascade"))
    .addColumn("parent_id", "integer", (c) => c.notNull().references("groups.num_pk").onDelete("cascade"))
    .addPrimaryKeyConstraint("group_parents_pk", ["group_id", "parent_id"])
    .execute();
  await db.schema.createIndex("group_parents_parent").on("group_parents").column("parent_id").execute();

  await db.schema
    .createTable("group_members")
    .addColumn("group_id", "integer", (c) => c.notNull().references("groups.num_pk").onDelete("cascade"))
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addPrimaryKeyConstraint("group_members_pk", ["group_id", "user_id"])
    .execute();
  await db.schema.createIndex("group_members_user").on("group_members").column("user_id").execute();

  await db.schema
    .createTable("tokens")
    .addColumn("token_uuid", "text", (c) => c.primaryKey())
    .addColumn("identifier", "text", (c) => c.notNull().unique())
    .addColumn("key_hash", "text", (c) => c.notNull().unique())
    .addColumn("key_sealed", "text", (c) => c.notNull())
    .addColumn("intent", "text", (c) => c.notNull())
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("description", "text", (c) => c.notNull())
    .addColumn("expires", t.timestamp)
    .addColumn("expiring", t.bool, (c) => c.notNull())
    .addColumn("managed", "text", (c) => c.unique())
    .addColumn("created", t.timestamp, (c) => c.notNull())
    .execute();
  await db.schema.createIndex("tokens_user").on("tokens").column("user_id").execute();

  await db.schema
    .createTable("sessions")
    .addColumn("session_hash", "text", (c) => c.primaryKey())
    .addColumn("uuid", "text", (c) => c.notNull().unique())
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("expires", t.timestamp, (c) => c.notNull())
    .addColumn("created", t.timestamp, (c) => c.notNull())
    .addColumn("last_used", t.timestamp, (c) => c.notNull())
    .addColumn("last_ip", "text", (c) => c.notNull())
    .addColumn("last_user_agent", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("sessions_user").on("sessions").column("user_id").execute();
  await db.schema.createIndex("sessions_expires").on("sessions").column("expires").execute();

  await db.schema
    .createTable("events")
    .addColumn("event_uuid", "text", (c) => c.primaryKey())
    .addColumn("action", "text", (c) => c.notNull())
    .addColumn("app", "text", (c) => c.notNull())
    .addColumn("user", t.json, (c) => c.notNull())
    .addColumn("context", t.json, (c) => c.notNull())
    .addColumn("client_ip", "text")
    .addColumn("brand", t.json, (c) => c.notNull())
    .addColumn("created", t.timestamp, (c) => c.notNull())
    .addColumn("expires", t.timestamp, (c) => c.notNull())
    .execute();
  await db.schema.createIndex("events_created").on("events").column("created").execute();
  await db.schema.createIndex("events_action").on("events").column("action").execute();
  await db.schema.createIndex("events_expires").on("events").column("expires").execute();

  await db.schema
    .createTable("settings")
    .addColumn("key", "text", (c) => c.primaryKey())
    .addColumn("value", "text", (c) => c.notNull())
    .execute();
}

export const migration0001: StoreMigration = { name: "0001_core", up };
