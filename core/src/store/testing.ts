/**
 * Store back ends for tests: SQLite always, PostgreSQL when GATEHOUSE_TEST_POSTGRES_URL is set.
 * Each PostgreSQL store gets a database of its own, dropped when the store closes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { openStore, type Store } from "./index.ts";
import { migrateToLatest } from "./migrate.ts";

export interface TestBackend {
  name: "sqlite" | "postgres";
  /** Opens an empty, migrated store. `reopen` opens the same data again (to test restarts). */
  open(): Promise<TestStore>;
}

export interface TestStore extends Store {
  reopen(): Promise<Store>;
  /** Closes the store and throws its data away. */
  dispose(): Promise<void>;
}

export const postgresTestUrl = process.env.GATEHOUSE_TEST_POSTGRES_URL;

export function testBackends(): TestBackend[] {
  const backends: TestBackend[] = [{ name: "sqlite", open: openSqliteTestStore }];
  if (postgresTestUrl)
    backends.push({ name: "postgres", open: () => openPostgresTestStore(postgresTestUrl) });
  return backends;
}

async function openSqliteTestStore(): Promise<TestStore> {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-store-"));
  const path = join(dir, "gatehouse.db");
  const store = openStore({ kind: "sqlite", path });
  await migrateToLatest(store.db, "sqlite");
  return Object.assign(store, {
    reopen: async () => openStore({ kind: "sqlite", path }),
    dispose: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

/** Creates a fresh database on the test server and returns its URL; `drop` removes it. */
export async function createTestDatabase(url: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `gh_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const u = new URL(url);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const again = postgres(url, { max: 1, onnotice: () => {} });
      await again.unsafe(`drop database if exists ${name} with (force)`);
      await again.end();
    },
  };
}

async function openPostgresTestStore(url: string): Promise<TestStore> {
  const database = await createTestDatabase(url);
  const store = openStore({ kind: "postgres", url: database.url, poolMax: 4 });
  await migrateToLatest(store.db, "postgres");
  return Object.assign(store, {
    reopen: async () => openStore({ kind: "postgres", url: database.url, poolMax: 4 }),
    dispose: async () => {
      await store.close();
      await database.drop();
    },
  });
}
