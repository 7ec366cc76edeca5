/** Roles, their users and groups, and the permissions assigned to them (globally or on one object). */
import type { Kysely } from "kysely";
import { columnTypes, type StoreKind, type StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>, kind: StoreKind): Promise<void> {
  const t = columnTypes(kind);
  const autoincrement = kind === "sqlite";
  await db.schema
    .createTable("roles")
    .addColumn("role_uuid", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull().unique())
    .addColumn("managed", "text", (c) => c.unique())
    .execute();
  await db.schema
    .createTable("role_users")
    .addColumn("role", "text", (c) => c.notNull().references("roles.role_uuid").onDelete("cascade"))
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addPrimaryKeyConstraint("role_users_pk", ["role", "user_id"])
    .execute();
  await db.schema
    .createTable("group_roles")
    .addColumn("group_id", "integer", (c) => c.notNull().references("groups.num_pk").onDelete("cascade"))
    .addColumn("role", "text", (c) => c.notNull().references("roles.role_uuid").onDelete("cascade"))
    .addPrimaryKeyConstraint("group_roles_pk", ["group_id", "role"])
    .execute();
  await db.schema
    .createTable("role_permissions")
    .addColumn("id", t.serial, (c) => (autoincrement ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn("role", "text", (c) => c.notNull().references("roles.role_uuid").onDelete("cascade"))
    .addColumn("permission", "text", (c) => c.notNull())
    .addColumn("model", "text")
    .addColumn("object_pk", "text")
    .execute();
  await db.schema
    .createIndex("role_permissions_lookup")
    .on("role_permissions")
    .columns(["permission", "object_pk"])
    .execute();
}

export const migration0009: StoreMigration = { name: "0009_rbac", up };
