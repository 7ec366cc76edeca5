/** MFA devices (TOTP, static recovery codes; WebAuthn later) and their static tokens, stored hashed. */
import type { Kysely } from "kysely";
import { columnTypes, type StoreKind, type StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>, kind: StoreKind): Promise<void> {
  const t = columnTypes(kind);
  const autoincrement = kind === "sqlite";
  await db.schema
    .createTable("authenticator_devices")
    .addColumn("id", t.serial, (c) => (autoincrement ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("confirmed", t.bool, (c) => c.notNull())
    // TOTP secrets must be read back to check codes: sealed with the installation key, never plain.
    .addColumn("secret_sealed", "text")
    .addColumn("config", t.json, (c) => c.notNull())
    // The last TOTP time step accepted, so a code cannot be replayed.
    .addColumn("last_step", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("created", t.timestamp, (c) => c.notNull())
    .addColumn("last_updated", t.timestamp, (c) => c.notNull())
    .addColumn("last_used", t.timestamp)
    .execute();
  await db.schema
    .createIndex("authenticator_devices_user")
    .on("authenticator_devices")
    .columns(["user_id", "kind"])
    .execute();

  await db.schema
    .createTable("static_tokens")
    .addColumn("device_id", "integer", (c) =>
      c.notNull().references("authenticator_devices.id").onDelete("cascade"),
    )
    .addColumn("token_hash", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("static_tokens_pk", ["device_id", "token_hash"])
    .execute();
}

export const migration0003: StoreMigration = { name: "0003_authenticators", up };
