/**
 * How a browser session's user authenticated (OIDC `amr`: "pwd", "otp", "hwk", "mfa"), kept on the
 * session and on the authorization codes issued in it, so ID tokens can say it.
 */
import type { Kysely } from "kysely";
import type { StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("sessions").addColumn("amr", "text").execute();
  await db.schema.alterTable("oauth2_codes").addColumn("amr", "text").execute();
}

export const migration0017: StoreMigration = { name: "0017_session_amr", up };
