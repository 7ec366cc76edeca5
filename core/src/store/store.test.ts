import { afterEach, describe, expect, test } from "bun:test";
import type { Kysely } from "kysely";
import { asJson, fromJson, toBool, toIso } from "./codec.ts";
import { migrateToLatest } from "./migrate.ts";
import { migrations } from "./migrations/index.ts";
import { jsonText } from "./search.ts";
import { type TestStore, testBackends } from "./testing.ts";

for (const backend of testBackends()) {
  describe(`store on ${backend.name}`, () => {
    let store: TestStore | undefined;
    afterEach(async () => {
      await store?.dispose();
      store = undefined;
    });

    test("round-trips JSON, booleans and timestamps in one shape", async () => {
      store = await backend.open();
      const now = "2026-11-28T12:00:00.000Z";
      await store.db
        .insertInto("users")
        .values({
          uuid: crypto.randomUUID(),
          username: "alice",
          name: "Alice",
          email: "alice@example.com",
          password: null,
          password_change_date: now,
          is_active: true,
          type: "internal",
          path: "users",
          attributes: asJson({ nested: { list: [1, "two"] } }),
          last_login: null,
          date_joined: now,
          last_updated: now,
        })
        .execute();
      const row = await store.db
        .selectFrom("users")
        .selectAll()
        .where("username", "=", "alice")
        .executeTakeFirstOrThrow();
      expect(toBool(row.is_active)).toBe(true);
      expect(toIso(row.date_joined)).toBe(now);
      expect(fromJson(row.attributes)).toEqual({ nested: { list: [1, "two"] } });
      const later = await store.db
        .selectFrom("users")
        .select("username")
        .where("date_joined", "<", "2026-11-29T00:00:00.000Z")
        .execute();
      expect(later.map((r) => r.username)).toEqual(["alice"]);
      // JSON is stored as a JSON object (not a JSON-encoded string), so the back end can query into it.
      const byKey = await store.db
        .selectFrom("users")
        .select("username")
        .where(jsonText(store.kind, "attributes", "nested"), "is not", null)
        .execute();
      expect(byKey.map((r) => r.username)).toEqual(["alice"]);
    });

    test("data survives closing and reopening the store", async () => {
      store = await backend.open();
      await store.db.insertInto("settings").values({ key: "k", value: "v" }).execute();
      await store.close();
      const again = await store.reopen();
      const row = await again.db.selectFrom("settings").selectAll().executeTakeFirst();
      expect(row).toEqual({ key: "k", value: "v" });
      await again.close();
      store = Object.assign(await store.reopen(), { reopen: store.reopen, dispose: store.dispose });
    });

    test("migrations are idempotent and refuse a newer schema", async () => {
      store = await backend.open();
      const db = store.db as unknown as Kysely<unknown>;
      expect((await migrateToLatest(db, store.kind)).applied).toEqual([]);
      const future = [...migrations, { name: "9999_future", up: async () => {} }];
      await migrateToLatest(db, store.kind, future);
      await expect(migrateToLatest(db, store.kind)).rejects.toThrow(/newer than this Gatehouse/);
    });

    test("a failing migration leaves nothing half-written", async () => {
      store = await backend.open();
      const db = store.db as unknown as Kysely<unknown>;
      const broken = [
        ...migrations,
        {
          name: "0999_broken",
          up: async (trx: Kysely<unknown>) => {
            await trx.schema.createTable("half").addColumn("x", "integer").execute();
            throw new Error("boom");
          },
        },
      ];
      await expect(migrateToLatest(db, store.kind, broken)).rejects.toThrow(/0999_broken failed/);
      const tables = (await db.introspection.getTables()).map((t) => t.name);
      expect(tables).not.toContain("half");
    });
  });
}
