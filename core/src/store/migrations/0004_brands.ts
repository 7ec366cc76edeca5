/** Brands: per-domain title, logo, favicon and default flows. */
import type { Kysely } from "kysely";
import { columnTypes, type StoreKind, type StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>, kind: StoreKind): Promise<void> {
  const t = columnTypes(kind);
  let table = db.schema
    .createTable("brands")
    .addColumn("brand_uuid", "text", (c) => c.primaryKey())
    .addColumn("domain", "text", (c) => c.notNull().unique())
    .addColumn("is_default", t.bool, (c) => c.notNull())
    .addColumn("branding_title", "text", (c) => c.notNull())
    .addColumn("branding_logo", "text", (c) => c.notNull())
    .addColumn("branding_favicon", "text", (c) => c.notNull())
    .addColumn("branding_custom_css", "text", (c) => c.notNull())
    .addColumn("branding_default_flow_background", "text", (c) => c.notNull());
  for (const flow of [
    "authentication",
    "invalidation",
    "recovery",
    "unenrollment",
    "user_settings",
    "device_code",
  ]) {
    table = table.addColumn(`flow_${flow}`, "text", (c) =>
      c.references("flows.flow_uuid").onDelete("set null"),
    );
  }
  await table
    .addColumn("default_application", "text")
    .addColumn("web_certificate", "text")
    .addColumn("client_certificates", t.json, (c) => c.notNull())
    .addColumn("attributes", t.json, (c) => c.notNull())
    .execute();
}

export const migration0004: StoreMigration = { name: "0004_brands", up };
