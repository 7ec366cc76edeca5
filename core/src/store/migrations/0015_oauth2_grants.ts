/**
 * OAuth2 grants in progress: authorization codes and device codes, kept by the hash of their value, and
 * on issued tokens the grant family (a code's or device code's tokens and every refresh rotation share
 * one, so a reused code or refresh token revokes them all) and the browser session they came from (so
 * ending the session revokes them and back-channel logout knows whom to tell).
 */
import type { Kysely } from "kysely";
import { columnTypes, type StoreKind, type StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>, kind: StoreKind): Promise<void> {
  const t = columnTypes(kind);
  await db.schema
    .createTable("oauth2_codes")
    .addColumn("code_hash", "text", (c) => c.primaryKey())
    .addColumn("provider_id", "integer", (c) => c.notNull().references("providers.id").onDelete("cascade"))
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("family", "text", (c) => c.notNull())
    .addColumn("session_hash", "text")
    .addColumn("redirect_uri", "text", (c) => c.notNull())
    .addColumn("scope", "text", (c) => c.notNull())
    .addColumn("nonce", "text")
    .addColumn("code_challenge", "text")
    .addColumn("code_challenge_method", "text")
    .addColumn("auth_time", t.timestamp, (c) => c.notNull())
    .addColumn("created", t.timestamp, (c) => c.notNull())
    .addColumn("expires", t.timestamp, (c) => c.notNull())
    .addColumn("used", t.bool, (c) => c.notNull())
    .execute();
  await db.schema.createIndex("oauth2_codes_expires").on("oauth2_codes").column("expires").execute();
  await db.schema
    .createTable("oauth2_device_codes")
    .addColumn("device_code_hash", "text", (c) => c.primaryKey())
    .addColumn("user_code", "text", (c) => c.notNull().unique())
    .addColumn("provider_id", "integer", (c) => c.notNull().references("providers.id").onDelete("cascade"))
    .addColumn("scope", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("user_id", "integer", (c) => c.references("users.id").onDelete("cascade"))
    .addColumn("session_hash", "text")
    .addColumn("auth_time", t.timestamp)
    .addColumn("last_poll", t.timestamp)
    .addColumn("created", t.timestamp, (c) => c.notNull())
    .addColumn("expires", t.timestamp, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("oauth2_device_codes_expires")
    .on("oauth2_device_codes")
    .column("expires")
    .execute();
  await db.schema.alterTable("oauth2_tokens").addColumn("family", "text").execute();
  await db.schema.alterTable("oauth2_tokens").addColumn("session_hash", "text").execute();
  await db.schema.createIndex("oauth2_tokens_family").on("oauth2_tokens").column("family").execute();
  await db.schema.createIndex("oauth2_tokens_session").on("oauth2_tokens").column("session_hash").execute();
}

export const migration0015: StoreMigration = { name: "0015_oauth2_grants", up };
