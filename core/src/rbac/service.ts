/**
 * Roles and permissions, as authentik's RBAC: a role holds permissions ("app_label.codename"), either
 * globally or on one object (model + object pk); users hold roles directly or through their groups
 * (inherited ones too). Superusers hold every permission.
 */
import { type Static, Type as t } from "@sinclair/typebox";
import type { Selectable } from "kysely";
import { notFound, validationError } from "../../../shared/errors.ts";
import { type PageRequest, type Paginated, paginate } from "../api/pagination.ts";
import { listParam, orderingParam } from "../api/query.ts";
import type { CoreContext, Db } from "../context.ts";
import { ancestorIds, superuserIds } from "../groups/membership.ts";
import type { RolesTable } from "../store/database.ts";
import { containsText } from "../store/search.ts";

export type RoleRow = Selectable<RolesTable>;

export const RoleRequest = t.Object({ name: t.String({ minLength: 1, maxLength: 150 }) });
export type RoleRequest = Static<typeof RoleRequest>;

const PERMISSION = "^[a-z0-9_]+\\.[a-z0-9_]+$";
export const PermissionAssignRequest = t.Object({
  permissions: t.Array(t.String({ minLength: 1, maxLength: 200, pattern: PERMISSION }), {
    minItems: 1,
    maxItems: 500,
  }),
  model: t.Optional(t.String({ minLength: 1, maxLength: 200, pattern: PERMISSION })),
  object_pk: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
});
export type PermissionAssignRequest = Static<typeof PermissionAssignRequest>;

export const serializeRole = (row: RoleRow) => ({ pk: row.role_uuid, name: row.name });

export async function listRoles(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
): Promise<Paginated<unknown>> {
  let q = ctx.store.db.selectFrom("roles");
  const name = params.get("name");
  if (name !== null) q = q.where("name", "=", name);
  const users = listParam(params, "users").map(Number).filter(Number.isInteger);
  if (users.length > 0)
    q = q.where("role_uuid", "in", (eb) =>
      eb.selectFrom("role_users").select("role").where("user_id", "in", users),
    );
  const search = params.get("search");
  if (search) q = q.where(containsText(ctx.store.kind, "name", search));
  const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  let rows = q.selectAll();
  for (const o of orderingParam(params, { name: "name" } as const, [{ column: "name", direction: "asc" }]))
    rows = rows.orderBy(o.column, o.direction);
  return paginate(
    (await rows.limit(page.pageSize).offset(page.offset).execute()).map(serializeRole),
    Number(count),
    page,
  );
}

export async function getRole(db: Db, uuid: string): Promise<RoleRow> {
  const row = await db.selectFrom("roles").selectAll().where("role_uuid", "=", uuid).executeTakeFirst();
  if (!row) throw notFound("RB0001RoleNotFound", "No Role matches the given query.");
  return row;
}

async function checkName(db: Db, name: string, except?: string): Promise<void> {
  let q = db.selectFrom("roles").select("role_uuid").where("name", "=", name);
  if (except) q = q.where("role_uuid", "!=", except);
  if (await q.executeTakeFirst())
    throw validationError("RB0002NameTaken", { name: ["Role with this name already exists."] });
}

export async function createRole(db: Db, input: RoleRequest): Promise<RoleRow> {
  await checkName(db, input.name);
  return db
    .insertInto("roles")
    .values({ role_uuid: crypto.randomUUID(), name: input.name, managed: null })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateRole(db: Db, uuid: string, input: Partial<RoleRequest>): Promise<RoleRow> {
  await getRole(db, uuid);
  if (input.name !== undefined) await checkName(db, input.name, uuid);
  return db
    .updateTable("roles")
    .set(input)
    .where("role_uuid", "=", uuid)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteRole(db: Db, uuid: string): Promise<RoleRow> {
  const row = await getRole(db, uuid);
  await db.deleteFrom("roles").where("role_uuid", "=", uuid).execute();
  return row;
}

/** Checks role uuids exist (for user and group writes); unknown ones are a field error. */
export async function resolveRoles(
  db: Db,
  field: string,
  uuids: string[] | undefined,
): Promise<string[] | undefined> {
  if (uuids === undefined) return undefined;
  const unique = [...new Set(uuids.map((u) => u.toLowerCase()))];
  if (unique.length === 0) return [];
  const found = new Set(
    (await db.selectFrom("roles").select("role_uuid").where("role_uuid", "in", unique).execute()).map(
      (r) => r.role_uuid,
    ),
  );
  const missing = unique.filter((u) => !found.has(u));
  if (missing.length > 0) {
    throw validationError("RB0003UnknownRole", {
      [field]: missing.map((u) => `Invalid pk "${u}" - object does not exist.`),
    });
  }
  return unique;
}

export async function setUserRoles(db: Db, userId: number, roles: string[]): Promise<void> {
  await db.deleteFrom("role_users").where("user_id", "=", userId).execute();
  if (roles.length > 0)
    await db
      .insertInto("role_users")
      .values(roles.map((role) => ({ role, user_id: userId })))
      .execute();
}

export async function setGroupRoles(db: Db, groupId: number, roles: string[]): Promise<void> {
  await db.deleteFrom("group_roles").where("group_id", "=", groupId).execute();
  if (roles.length > 0)
    await db
      .insertInto("group_roles")
      .values(roles.map((role) => ({ role, group_id: groupId })))
      .execute();
}

export async function rolesOf(
  db: Db,
  table: "role_users" | "group_roles",
  ids: number[],
): Promise<Map<number, RoleRow[]>> {
  const out = new Map<number, RoleRow[]>();
  if (ids.length === 0) return out;
  const rows =
    table === "role_users"
      ? await db
          .selectFrom("role_users as l")
          .innerJoin("roles as r", "r.role_uuid", "l.role")
          .select(["l.user_id as owner", "r.role_uuid", "r.name", "r.managed"])
          .where("l.user_id", "in", ids)
          .orderBy("r.name")
          .execute()
      : await db
          .selectFrom("group_roles as l")
          .innerJoin("roles as r", "r.role_uuid", "l.role")
          .select(["l.group_id as owner", "r.role_uuid", "r.name", "r.managed"])
          .where("l.group_id", "in", ids)
          .orderBy("r.name")
          .execute();
  for (const { owner, ...role } of rows) out.set(owner, [...(out.get(owner) ?? []), role]);
  return out;
}

export async function assignPermissions(
  db: Db,
  role: string,
  input: PermissionAssignRequest,
): Promise<{ id: string }[]> {
  if ((input.model === undefined) !== (input.object_pk === undefined)) {
    throw validationError("RB0004ModelAndPk", { non_field_errors: ["model and object_pk go together."] });
  }
  await getRole(db, role);
  const out: { id: string }[] = [];
  for (const permission of [...new Set(input.permissions)]) {
    let q = db
      .selectFrom("role_permissions")
      .select("id")
      .where("role", "=", role)
      .where("permission", "=", permission);
    q =
      input.object_pk === undefined
        ? q.where("object_pk", "is", null)
        : q.where("object_pk", "=", input.object_pk);
    const existing = await q.executeTakeFirst();
    const id =
      existing?.id ??
      (
        await db
          .insertInto("role_permissions")
          .values({ role, permission, model: input.model ?? null, object_pk: input.object_pk ?? null })
          .returning("id")
          .executeTakeFirstOrThrow()
      ).id;
    out.push({ id: String(id) });
  }
  return out;
}

export async function unassignPermissions(
  db: Db,
  role: string,
  input: Partial<PermissionAssignRequest>,
): Promise<void> {
  await getRole(db, role);
  let q = db.deleteFrom("role_permissions").where("role", "=", role);
  if (input.permissions?.length) q = q.where("permission", "in", input.permissions);
  q =
    input.object_pk === undefined
      ? q.where("object_pk", "is", null)
      : q.where("object_pk", "=", input.object_pk);
  await q.execute();
}

/** The roles a user holds: directly, and through each group they are in or inherit from. */
export async function effectiveRoles(db: Db, userId: number): Promise<string[]> {
  const direct = await db.selectFrom("role_users").select("role").where("user_id", "=", userId).execute();
  const groups = await db
    .selectFrom("group_members")
    .select("group_id")
    .where("user_id", "=", userId)
    .execute();
  const all = await ancestorIds(
    db,
    groups.map((g) => g.group_id),
  );
  const viaGroups =
    all.size > 0
      ? await db
          .selectFrom("group_roles")
          .select("role")
          .where("group_id", "in", [...all])
          .execute()
      : [];
  return [...new Set([...direct, ...viaGroups].map((r) => r.role))];
}

/** Whether the user holds `permission` globally or on the given object. Superusers hold everything. */
export async function hasPermission(
  db: Db,
  userId: number,
  permission: string,
  objectPk?: string,
): Promise<boolean> {
  if ((await superuserIds(db, [userId])).has(userId)) return true;
  const roles = await effectiveRoles(db, userId);
  if (roles.length === 0) return false;
  const row = await db
    .selectFrom("role_permissions")
    .select("id")
    .where("role", "in", roles)
    .where("permission", "=", permission)
    .where((eb) =>
      objectPk === undefined
        ? eb("object_pk", "is", null)
        : eb.or([eb("object_pk", "is", null), eb("object_pk", "=", objectPk)]),
    )
    .limit(1)
    .executeTakeFirst();
  return Boolean(row);
}
