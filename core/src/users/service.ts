/** Users: list with authentik's filters, create, update, delete, passwords and service accounts. */
import { sql } from "kysely";
import { notFound, validationError } from "../../../shared/errors.ts";
import { type PageRequest, type Paginated, paginate } from "../api/pagination.ts";
import { attributesParam, boolParam, intListParam, listParam, orderingParam } from "../api/query.ts";
import type { CoreContext, Db } from "../context.ts";
import { groupIdsByUuid, superuserGroupIds } from "../groups/membership.ts";
import { resolveRoles, setUserRoles } from "../rbac/service.ts";
import { endSessions } from "../sessions/service.ts";
import { asJson } from "../store/codec.ts";
import { containsText, jsonEquals } from "../store/search.ts";
import type { UserRequest, UserType } from "./model.ts";
import { serializeUsers, type UserOut, type UserRow } from "./serialize.ts";

export const DEFAULT_USER_PATH = "users";
export const SERVICE_ACCOUNT_PATH = "goauthentik.io/service-accounts";

const ORDERING = {
  pk: "users.id",
  username: "users.username",
  name: "users.name",
  email: "users.email",
  is_active: "users.is_active",
  last_login: "users.last_login",
  date_joined: "users.date_joined",
  last_updated: "users.last_updated",
  path: "users.path",
  type: "users.type",
} as const;

export async function findUser(db: Db, id: number): Promise<UserRow | undefined> {
  return db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
}

export async function getUser(db: Db, id: number): Promise<UserRow> {
  const row = await findUser(db, id);
  if (!row) throw notFound("US0001UserNotFound", "No User matches the given query.");
  return row;
}

export async function findUserByUsername(db: Db, username: string): Promise<UserRow | undefined> {
  return db.selectFrom("users").selectAll().where("username", "=", username).executeTakeFirst();
}

export interface UserListScope {
  /** Limits the list to one user (non-superusers see only themselves). */
  onlyUserId?: number;
}

export async function listUsers(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
  scope: UserListScope = {},
): Promise<Paginated<UserOut>> {
  const kind = ctx.store.kind;
  let q = ctx.store.db.selectFrom("users");
  if (scope.onlyUserId !== undefined) q = q.where("users.id", "=", scope.onlyUserId);
  for (const field of ["username", "email", "name", "path", "uuid"] as const) {
    const v = params.get(field);
    if (v !== null) q = q.where(`users.${field}`, "=", v);
  }
  for (const { path, value } of attributesParam(params) ?? [])
    q = q.where(jsonEquals(kind, "users.attributes", path, value));
  const pathPrefix = params.get("path_startswith");
  if (pathPrefix) q = q.where(sql<boolean>`substr(users.path, 1, ${pathPrefix.length}) = ${pathPrefix}`);
  const isActive = boolParam(params, "is_active");
  if (isActive !== undefined) q = q.where("users.is_active", "=", isActive);
  const types = listParam(params, "type");
  if (types.length > 0) q = q.where("users.type", "in", types);
  const groupNames = listParam(params, "groups_by_name");
  if (groupNames.length > 0) {
    q = q.where("users.id", "in", (eb) =>
      eb
        .selectFrom("group_members as m")
        .innerJoin("groups as g", "g.num_pk", "m.group_id")
        .select("m.user_id")
        .where("g.name", "in", groupNames),
    );
  }
  const groupPks = listParam(params, "groups_by_pk");
  if (groupPks.length > 0) {
    q = q.where("users.id", "in", (eb) =>
      eb
        .selectFrom("group_members as m")
        .innerJoin("groups as g", "g.num_pk", "m.group_id")
        .select("m.user_id")
        .where("g.group_uuid", "in", groupPks),
    );
  }
  const pks = intListParam(params, "pk");
  if (pks.length > 0) q = q.where("users.id", "in", pks);
  for (const field of ["date_joined", "last_login", "last_updated"] as const) {
    const gt = params.get(`${field}__gt`);
    if (gt) q = q.where(`users.${field}`, ">", isoParam(`${field}__gt`, gt));
    const lt = params.get(`${field}__lt`);
    if (lt) q = q.where(`users.${field}`, "<", isoParam(`${field}__lt`, lt));
  }
  const lastLoginNull = boolParam(params, "last_login__isnull");
  if (lastLoginNull !== undefined) {
    q = lastLoginNull ? q.where("users.last_login", "is", null) : q.where("users.last_login", "is not", null);
  }
  const search = params.get("search");
  if (search) {
    q = q.where((eb) =>
      eb.or([
        containsText(kind, "users.username", search),
        containsText(kind, "users.name", search),
        containsText(kind, "users.email", search),
      ]),
    );
  }

  const isSuperuser = boolParam(params, "is_superuser");
  if (isSuperuser !== undefined) {
    const groups = await superuserGroupIds(ctx.store.db);
    const superusers = ctx.store.db
      .selectFrom("group_members")
      .select("user_id")
      .where("group_id", "in", groups.length > 0 ? groups : [-1]);
    q = q.where("users.id", isSuperuser ? "in" : "not in", superusers);
  }

  const order = orderingParam(params, ORDERING, [{ column: "users.username", direction: "asc" }]);
  const countRow = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  let rows = q.selectAll("users");
  for (const o of order) rows = rows.orderBy(o.column, o.direction);
  const pageRows = await rows.orderBy("users.id").limit(page.pageSize).offset(page.offset).execute();
  const includeGroups = boolParam(params, "include_groups") ?? true;
  const results = await serializeUsers(ctx.store.db, ctx.installId, pageRows, { includeGroups });
  return paginate(results, Number(countRow.count), page);
}

function isoParam(name: string, value: string): string {
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw validationError("US0002BadDate", { [name]: ["Enter a valid date/time."] });
  return new Date(t).toISOString();
}

async function checkUnique(db: Db, username: string, exceptId?: number): Promise<void> {
  let q = db.selectFrom("users").select("id").where("username", "=", username);
  if (exceptId !== undefined) q = q.where("id", "!=", exceptId);
  if (await q.executeTakeFirst()) {
    throw validationError("US0003UsernameTaken", { username: ["A user with that username already exists."] });
  }
}

async function resolveGroups(db: Db, uuids: string[] | undefined): Promise<number[] | undefined> {
  if (uuids === undefined) return undefined;
  const { ids, missing } = await groupIdsByUuid(db, uuids);
  if (missing.length > 0) {
    throw validationError("US0004UnknownGroup", {
      groups: missing.map((u) => `Invalid pk "${u}" - object does not exist.`),
    });
  }
  return ids;
}

export async function setUserGroups(db: Db, userId: number, groupIds: number[]): Promise<void> {
  await db.deleteFrom("group_members").where("user_id", "=", userId).execute();
  if (groupIds.length > 0) {
    await db
      .insertInto("group_members")
      .values(groupIds.map((group_id) => ({ group_id, user_id: userId })))
      .execute();
  }
}

export interface CreateUserInput extends UserRequest {
  /** An argon2id hash made with hashPassword before the transaction (hashing holds no lock). */
  passwordHash?: string | null;
}

export async function createUser(ctx: CoreContext, db: Db, input: CreateUserInput): Promise<UserRow> {
  await checkUnique(db, input.username);
  const groupIds = await resolveGroups(db, input.groups);
  const roles = await resolveRoles(db, "roles", input.roles);
  const now = ctx.clock().toISOString();
  const row = await db
    .insertInto("users")
    .values({
      uuid: crypto.randomUUID(),
      username: input.username,
      name: input.name,
      email: input.email ?? "",
      password: input.passwordHash ?? null,
      password_change_date: now,
      is_active: input.is_active ?? true,
      type: input.type ?? "internal",
      path: input.path ?? (input.type === "service_account" ? SERVICE_ACCOUNT_PATH : DEFAULT_USER_PATH),
      attributes: asJson(input.attributes ?? {}),
      last_login: input.last_login ?? null,
      date_joined: now,
      last_updated: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  if (groupIds) await setUserGroups(db, row.id, groupIds);
  if (roles) await setUserRoles(db, row.id, roles);
  return row;
}

export async function updateUser(
  ctx: CoreContext,
  db: Db,
  id: number,
  input: Partial<UserRequest>,
): Promise<UserRow> {
  await getUser(db, id);
  if (input.username !== undefined) await checkUnique(db, input.username, id);
  const groupIds = await resolveGroups(db, input.groups);
  const roles = await resolveRoles(db, "roles", input.roles);
  const row = await db
    .updateTable("users")
    .set({
      ...(input.username !== undefined && { username: input.username }),
      ...(input.name !== undefined && { name: input.name }),
      ...(input.email !== undefined && { email: input.email }),
      ...(input.is_active !== undefined && { is_active: input.is_active }),
      ...(input.type !== undefined && { type: input.type }),
      ...(input.path !== undefined && { path: input.path }),
      ...(input.attributes !== undefined && { attributes: asJson(input.attributes) }),
      ...(input.last_login !== undefined && { last_login: input.last_login }),
      last_updated: ctx.clock().toISOString(),
    })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirstOrThrow();
  if (groupIds) await setUserGroups(db, id, groupIds);
  if (roles) await setUserRoles(db, id, roles);
  // As authentik: a deactivated user is signed out everywhere (and their OAuth2 tokens end with it).
  if (input.is_active === false) await endSessions(ctx, db, { userIds: [id] });
  return row;
}

export async function deleteUser(db: Db, id: number): Promise<UserRow> {
  const row = await getUser(db, id);
  await db.deleteFrom("users").where("id", "=", id).execute();
  return row;
}

/** argon2id, through Bun's native implementation. */
export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: "argon2id" });
}

export async function verifyPassword(row: UserRow, password: string): Promise<boolean> {
  if (!row.password) return false;
  try {
    return await Bun.password.verify(password, row.password);
  } catch {
    return false;
  }
}

/** Stores a hash made with hashPassword; hash before opening a transaction, so no lock is held meanwhile. */
export async function setPasswordHash(ctx: CoreContext, db: Db, id: number, hash: string): Promise<UserRow> {
  const now = ctx.clock().toISOString();
  const row = await db
    .updateTable("users")
    .set({ password: hash, password_change_date: now, last_updated: now })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw notFound("US0006UserNotFound", "No User matches the given query.");
  return row;
}

export function isServiceAccount(type: string): boolean {
  return (type as UserType) === "service_account" || type === "internal_service_account";
}
