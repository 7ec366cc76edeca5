/** How the user who approved a device code authenticated (OIDC `amr`), for the tokens the device gets. */
import type { Kysely } from "kysely";
import type { StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("oauth2_device_codes").addColumn("amr", "text").execute();
}

export const migration0018: StoreMigration = { name: "0018_device_code_amr", up };
