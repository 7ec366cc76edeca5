/**
 * Group graph queries: memberships, ancestors (several parents per group) and superuser status,
 * batched so a page of users costs a fixed number of queries.
 */
import { type Selectable, sql } from "kysely";
import type { Db } from "../context.ts";
import type { GroupsTable } from "../store/database.ts";

export type GroupRow = Selectable<GroupsTable>;

/** The groups each user is a direct member of, ordered by name. */
export async function groupsOfUsers(db: Db, userIds: number[]): Promise<Map<number, GroupRow[]>> {
  const out = new Map<number, GroupRow[]>();
  if (userIds.length === 0) return out;
  const rows = await db
    .selectFrom("group_members as m")
    .innerJoin("groups as g", "g.num_pk", "m.group_id")
    .select(["m.user_id", "g.num_pk", "g.group_uuid", "g.name", "g.is_superuser", "g.attributes"])
    .where("m.user_id", "in", userIds)
    .orderBy("g.name")
    .execute();
  for (const { user_id, ...group } of rows) {
    const list = out.get(user_id);
    if (list) list.push(group);
    else out.set(user_id, [group]);
  }
  return out;
}

/**
 * Groups that make their members superusers: every superuser group and every group below one. The
 * query has no parameters, so it is prepared once; the group graph is small next to the user table.
 */
export async function superuserGroupIds(db: Db): Promise<number[]> {
  const result = await sql<{ id: number }>`
    with recursive granted(id) as (
      select num_pk from groups where is_superuser = ${sql.lit(true)}
      union
      select p.group_id from group_parents p join granted on p.parent_id = granted.id
    )
    select id from granted`.execute(db);
  return result.rows.map((r) => Number(r.id));
}

/** Users (of those given) who are superusers through a direct or inherited group. */
export async function superuserIds(db: Db, userIds: number[]): Promise<Set<number>> {
  if (userIds.length === 0) return new Set();
  const groups = await superuserGroupIds(db);
  if (groups.length === 0) return new Set();
  const rows = await db
    .selectFrom("group_members")
    .select("user_id")
    .distinct()
    .where("user_id", "in", userIds)
    .where("group_id", "in", groups)
    .execute();
  return new Set(rows.map((r) => r.user_id));
}

/** The group and every group below it (children, grandchildren, …). */
export async function descendantIds(db: Db, groupId: number): Promise<Set<number>> {
  const result = await sql<{ id: number }>`
    with recursive below(id) as (
      select cast(${groupId} as integer)
      union
      select p.group_id from group_parents p join below on p.parent_id = below.id
    )
    select id from below`.execute(db);
  return new Set(result.rows.map((r) => Number(r.id)));
}

/** The group and every group above it, through any of its parents. */
export async function ancestorIds(db: Db, groupIds: number[]): Promise<Set<number>> {
  if (groupIds.length === 0) return new Set();
  const result = await sql<{ id: number }>`
    with recursive above(id) as (
      select num_pk from groups where num_pk in (${sql.join(groupIds)})
      union
      select p.parent_id from group_parents p join above on p.group_id = above.id
    )
    select id from above`.execute(db);
  return new Set(result.rows.map((r) => Number(r.id)));
}

/** Resolves group UUIDs to num_pks; unknown ones are returned in `missing`. */
export async function groupIdsByUuid(db: Db, uuids: string[]): Promise<{ ids: number[]; missing: string[] }> {
  if (uuids.length === 0) return { ids: [], missing: [] };
  const rows = await db
    .selectFrom("groups")
    .select(["num_pk", "group_uuid"])
    .where("group_uuid", "in", uuids)
    .execute();
  const found = new Map(rows.map((r) => [r.group_uuid, r.num_pk]));
  return {
    ids: [...new Set(rows.map((r) => r.num_pk))],
    missing: uuids.filter((u) => !found.has(u)),
  };
}
