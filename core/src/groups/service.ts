/** Groups: several parents per group (cycles refused), members, and authentik's list filters. */
import { notFound, validationError } from "../../../shared/errors.ts";
import { type PageRequest, type Paginated, paginate } from "../api/pagination.ts";
import { attributesParam, boolParam, intListParam, listParam, orderingParam } from "../api/query.ts";
import type { CoreContext, Db } from "../context.ts";
import { resolveRoles, rolesOf, setGroupRoles } from "../rbac/service.ts";
import { asJson, fromJson, toBool } from "../store/codec.ts";
import { containsText, jsonEquals } from "../store/search.ts";
import { type PartialUserOut, partialUser } from "../users/serialize.ts";
import { descendantIds, type GroupRow, groupIdsByUuid } from "./membership.ts";
import type { GroupRequest } from "./model.ts";

export interface RelatedGroupOut {
  pk: string;
  name: string;
  is_superuser: boolean;
  attributes: Record<string, unknown>;
  group_uuid: string;
}

export interface GroupOut {
  pk: string;
  num_pk: number;
  name: string;
  is_superuser: boolean;
  parents: string[];
  parents_obj: RelatedGroupOut[] | null;
  users: number[];
  users_obj: PartialUserOut[] | null;
  attributes: Record<string, unknown>;
  roles: string[];
  roles_obj: unknown[];
  inherited_roles_obj: unknown[] | null;
  children: string[];
  children_obj: RelatedGroupOut[] | null;
}

export interface GroupIncludes {
  users: boolean;
  parents: boolean;
  children: boolean;
}

export function includesFrom(params: URLSearchParams): GroupIncludes {
  return {
    users: boolParam(params, "include_users") ?? true,
    parents: boolParam(params, "include_parents") ?? false,
    children: boolParam(params, "include_children") ?? false,
  };
}

const ORDERING = { name: "g.name", is_superuser: "g.is_superuser", num_pk: "g.num_pk" } as const;

function related(g: GroupRow): RelatedGroupOut {
  return {
    pk: g.group_uuid,
    name: g.name,
    is_superuser: toBool(g.is_superuser),
    attributes: fromJson(g.attributes),
    group_uuid: g.group_uuid,
  };
}

export async function serializeGroups(
  ctx: CoreContext,
  db: Db,
  rows: GroupRow[],
  include: GroupIncludes,
): Promise<GroupOut[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.num_pk);
  const roleMap = await rolesOf(db, "group_roles", ids);
  const [parentLinks, childLinks, members] = await Promise.all([
    db
      .selectFrom("group_parents as l")
      .innerJoin("groups as g", "g.num_pk", "l.parent_id")
      .select(["l.group_id as owner"])
      .selectAll("g")
      .where("l.group_id", "in", ids)
      .orderBy("g.name")
      .execute(),
    db
      .selectFrom("group_parents as l")
      .innerJoin("groups as g", "g.num_pk", "l.group_id")
      .select(["l.parent_id as owner"])
      .selectAll("g")
      .where("l.parent_id", "in", ids)
      .orderBy("g.name")
      .execute(),
    db
      .selectFrom("group_members as m")
      .innerJoin("users as u", "u.id", "m.user_id")
      .select(["m.group_id as owner"])
      .selectAll("u")
      .where("m.group_id", "in", ids)
      .orderBy("u.id")
      .execute(),
  ]);
  const by = <T extends { owner: number }>(list: T[]) => {
    const map = new Map<number, T[]>();
    for (const item of list) map.set(item.owner, [...(map.get(item.owner) ?? []), item]);
    return map;
  };
  const parents = by(parentLinks);
  const children = by(childLinks);
  const users = by(members);
  return rows.map((g) => {
    const p = parents.get(g.num_pk) ?? [];
    const c = children.get(g.num_pk) ?? [];
    const u = users.get(g.num_pk) ?? [];
    return {
      pk: g.group_uuid,
      num_pk: g.num_pk,
      name: g.name,
      is_superuser: toBool(g.is_superuser),
      parents: p.map((x) => x.group_uuid),
      parents_obj: include.parents ? p.map(related) : null,
      users: u.map((x) => x.id),
      users_obj: include.users ? u.map(({ owner: _o, ...row }) => partialUser(ctx.installId, row)) : null,
      attributes: fromJson(g.attributes),
      roles: (roleMap.get(g.num_pk) ?? []).map((r) => r.role_uuid),
      roles_obj: (roleMap.get(g.num_pk) ?? []).map((r) => ({ pk: r.role_uuid, name: r.name })),
      inherited_roles_obj: null,
      children: c.map((x) => x.group_uuid),
      children_obj: include.children ? c.map(related) : null,
    };
  });
}

export async function listGroups(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
  scope: { memberId?: number } = {},
): Promise<Paginated<GroupOut>> {
  let q = ctx.store.db.selectFrom("groups as g");
  if (scope.memberId !== undefined) {
    const id = scope.memberId;
    q = q.where("g.num_pk", "in", (eb) =>
      eb.selectFrom("group_members").select("group_id").where("user_id", "=", id),
    );
  }
  const name = params.get("name");
  if (name !== null) q = q.where("g.name", "=", name);
  for (const { path, value } of attributesParam(params) ?? [])
    q = q.where(jsonEquals(ctx.store.kind, "g.attributes", path, value));
  const su = boolParam(params, "is_superuser");
  if (su !== undefined) q = q.where("g.is_superuser", "=", su);
  const memberPks = intListParam(params, "members_by_pk");
  if (memberPks.length > 0) {
    q = q.where("g.num_pk", "in", (eb) =>
      eb.selectFrom("group_members").select("group_id").where("user_id", "in", memberPks),
    );
  }
  const memberNames = listParam(params, "members_by_username");
  if (memberNames.length > 0) {
    q = q.where("g.num_pk", "in", (eb) =>
      eb
        .selectFrom("group_members as m")
        .innerJoin("users as u", "u.id", "m.user_id")
        .select("m.group_id")
        .where("u.username", "in", memberNames),
    );
  }
  const search = params.get("search");
  if (search) q = q.where(containsText(ctx.store.kind, "g.name", search));
  const order = orderingParam(params, ORDERING, [{ column: "g.name", direction: "asc" }]);
  const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  let rowsQ = q.selectAll("g");
  for (const o of order) rowsQ = rowsQ.orderBy(o.column, o.direction);
  const rows = await rowsQ.limit(page.pageSize).offset(page.offset).execute();
  return paginate(await serializeGroups(ctx, ctx.store.db, rows, includesFrom(params)), Number(count), page);
}

export async function getGroup(db: Db, uuid: string): Promise<GroupRow> {
  const row = await db.selectFrom("groups").selectAll().where("group_uuid", "=", uuid).executeTakeFirst();
  if (!row) throw notFound("GR0001GroupNotFound", "No Group matches the given query.");
  return row;
}

async function checkName(db: Db, name: string, exceptId?: number): Promise<void> {
  let q = db.selectFrom("groups").select("num_pk").where("name", "=", name);
  if (exceptId !== undefined) q = q.where("num_pk", "!=", exceptId);
  if (await q.executeTakeFirst()) {
    throw validationError("GR0002NameTaken", { name: ["Group with this name already exists."] });
  }
}

async function resolveParents(db: Db, uuids: string[], self?: number): Promise<number[]> {
  const { ids, missing } = await groupIdsByUuid(db, uuids);
  if (missing.length > 0) {
    throw validationError("GR0003UnknownParent", {
      parents: missing.map((u) => `Invalid pk "${u}" - object does not exist.`),
    });
  }
  if (self !== undefined) {
    const below = await descendantIds(db, self);
    if (ids.some((id) => below.has(id))) {
      throw validationError("GR0004Cycle", {
        parents: [
          "A group cannot be its own parent or the parent of one of its ancestors (this would create a cycle).",
        ],
      });
    }
  }
  return ids;
}

async function resolveUsers(db: Db, ids: number[]): Promise<number[]> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return [];
  const found = new Set(
    (await db.selectFrom("users").select("id").where("id", "in", unique).execute()).map((r) => r.id),
  );
  const missing = unique.filter((id) => !found.has(id));
  if (missing.length > 0) {
    throw validationError("GR0005UnknownUser", {
      users: missing.map((id) => `Invalid pk "${id}" - object does not exist.`),
    });
  }
  return unique;
}

async function replaceLinks(db: Db, groupId: number, parents?: number[], users?: number[]): Promise<void> {
  if (parents !== undefined) {
    await db.deleteFrom("group_parents").where("group_id", "=", groupId).execute();
    if (parents.length > 0) {
      await db
        .insertInto("group_parents")
        .values(parents.map((parent_id) => ({ group_id: groupId, parent_id })))
        .execute();
    }
  }
  if (users !== undefined) {
    await db.deleteFrom("group_members").where("group_id", "=", groupId).execute();
    if (users.length > 0) {
      await db
        .insertInto("group_members")
        .values(users.map((user_id) => ({ group_id: groupId, user_id })))
        .execute();
    }
  }
}

export async function createGroup(db: Db, input: GroupRequest): Promise<GroupRow> {
  await checkName(db, input.name);
  const roles = await resolveRoles(db, "roles", input.roles);
  const parents = input.parents ? await resolveParents(db, input.parents) : undefined;
  const users = input.users ? await resolveUsers(db, input.users) : undefined;
  const row = await db
    .insertInto("groups")
    .values({
      group_uuid: crypto.randomUUID(),
      name: input.name,
      is_superuser: input.is_superuser ?? false,
      attributes: asJson(input.attributes ?? {}),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await replaceLinks(db, row.num_pk, parents, users);
  if (roles) await setGroupRoles(db, row.num_pk, roles);
  return row;
}

export async function updateGroup(db: Db, uuid: string, input: Partial<GroupRequest>): Promise<GroupRow> {
  const current = await getGroup(db, uuid);
  const roles = await resolveRoles(db, "roles", input.roles);
  if (input.name !== undefined) await checkName(db, input.name, current.num_pk);
  const parents = input.parents ? await resolveParents(db, input.parents, current.num_pk) : undefined;
  const users = input.users ? await resolveUsers(db, input.users) : undefined;
  const changes = {
    ...(input.name !== undefined && { name: input.name }),
    ...(input.is_superuser !== undefined && { is_superuser: input.is_superuser }),
    ...(input.attributes !== undefined && { attributes: asJson(input.attributes) }),
  };
  const row =
    Object.keys(changes).length > 0
      ? await db
          .updateTable("groups")
          .set(changes)
          .where("num_pk", "=", current.num_pk)
          .returningAll()
          .executeTakeFirstOrThrow()
      : current;
  await replaceLinks(db, row.num_pk, parents, users);
  if (roles) await setGroupRoles(db, row.num_pk, roles);
  return row;
}

export async function deleteGroup(db: Db, uuid: string): Promise<GroupRow> {
  const row = await getGroup(db, uuid);
  await db.deleteFrom("groups").where("num_pk", "=", row.num_pk).execute();
  return row;
}

export async function addMember(db: Db, group: GroupRow, userId: number): Promise<void> {
  await resolveUsersOr404(db, userId);
  const exists = await db
    .selectFrom("group_members")
    .select("user_id")
    .where("group_id", "=", group.num_pk)
    .where("user_id", "=", userId)
    .executeTakeFirst();
  if (!exists)
    await db.insertInto("group_members").values({ group_id: group.num_pk, user_id: userId }).execute();
}

export async function removeMember(db: Db, group: GroupRow, userId: number): Promise<void> {
  await resolveUsersOr404(db, userId);
  await db
    .deleteFrom("group_members")
    .where("group_id", "=", group.num_pk)
    .where("user_id", "=", userId)
    .execute();
}

async function resolveUsersOr404(db: Db, userId: number): Promise<void> {
  if (!(await db.selectFrom("users").select("id").where("id", "=", userId).executeTakeFirst())) {
    throw notFound("GR0007UserNotFound", "User not found.");
  }
}
