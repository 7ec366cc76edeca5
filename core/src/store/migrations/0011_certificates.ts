/**
 * Certificate-key pairs (authentik's CertificateKeyPair). What is read from the certificate (fingerprints,
 * expiry, subject, key type) is stored beside it when it is saved, so lists filter and sort in SQL.
 */
import type { Kysely } from "kysely";
import { columnTypes, type StoreKind, type StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>, kind: StoreKind): Promise<void> {
  const t = columnTypes(kind);
  await db.schema
    .createTable("certificate_key_pairs")
    .addColumn("kp_uuid", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull().unique())
    .addColumn("certificate_data", "text", (c) => c.notNull())
    .addColumn("key_data", "text", (c) => c.notNull())
    .addColumn("managed", "text", (c) => c.unique())
    .addColumn("fingerprint_sha256", "text", (c) => c.notNull())
    .addColumn("fingerprint_sha1", "text", (c) => c.notNull())
    .addColumn("cert_expiry", t.timestamp, (c) => c.notNull())
    .addColumn("cert_subject", "text", (c) => c.notNull())
    .addColumn("key_type", "text")
    .addColumn("created", t.timestamp, (c) => c.notNull())
    .addColumn("last_updated", t.timestamp, (c) => c.notNull())
    .execute();
}

export const migration0011: StoreMigration = { name: "0011_certificates", up };
