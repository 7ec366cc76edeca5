/**
 * Runs the known migrations in order, each in its own transaction on both back ends, and refuses a store
 * whose schema was written by a newer Gatehouse.
 */
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from "kysely";
import { GatehouseError } from "../../../shared/errors.ts";
import { migrations } from "./migrations/index.ts";
import type { StoreKind, StoreMigration } from "./migrations/types.ts";

const TABLE = "gatehouse_migrations";

export interface MigrateResult {
  applied: string[];
  current: string | undefined;
}

export async function migrateToLatest<DB>(
  store: Kysely<DB>,
  kind: StoreKind,
  known: readonly StoreMigration[] = migrations,
): Promise<MigrateResult> {
  // Migrations are written against the schema as it was, not the current Database type.
  const db = store as unknown as Kysely<unknown>;
  await refuseNewerSchema(db, known);
  const provider: MigrationProvider = {
    getMigrations: async () =>
      Object.fromEntries(known.map((m): [string, Migration] => [m.name, { up: (trx) => m.up(trx, kind) }])),
  };
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: TABLE,
    migrationLockTableName: `${TABLE}_lock`,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName ?? "unknown";
    throw new GatehouseError(`migration ${failed} failed: ${(error as Error).message}`, {
      status: 500,
      code: "ST0001MigrationFailed",
      expose: false,
      cause: error,
    });
  }
  const applied = (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
  return { applied, current: known.at(-1)?.name };
}

async function refuseNewerSchema(db: Kysely<unknown>, known: readonly StoreMigration[]): Promise<void> {
  const tables = await db.introspection.getTables();
  if (!tables.some((t) => t.name === TABLE)) return;
  const rows = await sql<{ name: string }>`select name from ${sql.table(TABLE)} order by name`.execute(db);
  const names = new Set(known.map((m) => m.name));
  const unknown = rows.rows.map((r) => r.name).filter((n) => !names.has(n));
  if (unknown.length > 0) {
    throw new GatehouseError(
      `the store's schema is newer than this Gatehouse (it has migration ${unknown.join(", ")}, which this version does not know); run the newer Gatehouse or restore a matching backup`,
      { status: 500, code: "ST0002SchemaTooNew", expose: false },
    );
  }
}
