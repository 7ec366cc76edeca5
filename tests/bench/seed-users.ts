/**
 * Fills a store with many users quickly: batched inserts straight through the store (the benchmark
 * measures listing, not creation), every user in one or two groups so a list page serializes groups.
 * All users share one argon2id hash, computed once. On PostgreSQL the tables are then ANALYZEd, as
 * autovacuum would do within a minute of such an import: without statistics the planner misjudges the
 * group queries badly (see README.md), and the benchmark measures the steady state.
 */
import { sql } from "kysely";
import type { Store } from "../../core/src/store/index.ts";

const BATCH = 500;

export interface SeedOptions {
  users: number;
  groups: number;
}

export interface Seeded {
  users: number;
  groups: number;
  memberships: number;
  ms: number;
}

export async function seedUsers(store: Store, options: SeedOptions): Promise<Seeded> {
  const started = performance.now();
  const password = await Bun.password.hash("bench-password", { algorithm: "argon2id" });
  const now = new Date().toISOString();
  let memberships = 0;
  await store.db.transaction().execute(async (trx) => {
    const groups = await trx
      .insertInto("groups")
      .values(
        Array.from({ length: options.groups }, (_, g) => ({
          group_uuid: crypto.randomUUID(),
          name: `bench-group-${g + 1}`,
          is_superuser: false,
          attributes: { department: `department ${g + 1}` },
        })),
      )
      .returning("num_pk")
      .execute();
    const groupIds = groups.map((g) => g.num_pk);

    for (let start = 0; start < options.users; start += BATCH) {
      const count = Math.min(BATCH, options.users - start);
      const rows = Array.from({ length: count }, (_, k) => {
        const n = start + k + 1;
        const tag = String(n).padStart(5, "0");
        return {
          uuid: crypto.randomUUID(),
          username: `bench-user-${tag}`,
          name: `Bench User ${tag}`,
          email: `bench-user-${tag}@example.test`,
          password,
          password_change_date: now,
          is_active: true,
          type: "internal",
          path: "users",
          attributes: { employee_number: n, settings: { locale: "en" } },
          last_login: null,
          date_joined: now,
          last_updated: now,
        };
      });
      const ids = await trx.insertInto("users").values(rows).returning("id").execute();
      const members = ids.flatMap(({ id }, k) => {
        const n = start + k;
        const first = groupIds[n % groupIds.length] as number;
        const second = groupIds[(n + 1) % groupIds.length] as number;
        // Every third user belongs to a second group.
        return n % 3 === 0 && second !== first
          ? [
              { group_id: first, user_id: id },
              { group_id: second, user_id: id },
            ]
          : [{ group_id: first, user_id: id }];
      });
      await trx.insertInto("group_members").values(members).execute();
      memberships += members.length;
    }
  });
  if (store.kind === "postgres") await sql`analyze`.execute(store.db);
  return {
    users: options.users,
    groups: options.groups,
    memberships,
    ms: Math.round(performance.now() - started),
  };
}
