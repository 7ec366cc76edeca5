/** Turns user rows into authentik's User / PartialUser / UserSelf shapes. */
import type { Selectable } from "kysely";
import { sha256Hex } from "../../../shared/crypto.ts";
import type { Db } from "../context.ts";
import { type GroupRow, groupsOfUsers, superuserIds } from "../groups/membership.ts";
import { rolesOf } from "../rbac/service.ts";
import { fromJson, toBool, toIso, toIsoOrNull } from "../store/codec.ts";
import type { UsersTable } from "../store/database.ts";

export type UserRow = Selectable<UsersTable>;

export interface PartialGroupOut {
  pk: string;
  num_pk: number;
  name: string;
  is_superuser: boolean;
  attributes: Record<string, unknown>;
}

export interface PartialUserOut {
  pk: number;
  username: string;
  name: string;
  is_active: boolean;
  last_login: string | null;
  email: string;
  attributes: Record<string, unknown>;
  uid: string;
}

export interface UserOut extends PartialUserOut {
  date_joined: string;
  is_superuser: boolean;
  groups: string[];
  groups_obj: PartialGroupOut[] | null;
  roles: string[];
  roles_obj: unknown[] | null;
  avatar: string;
  path: string;
  type: string;
  uuid: string;
  password_change_date: string;
  last_updated: string;
}

const uids = new Map<string, string>();
const avatars = new Map<string, string>();
/** Memoised values are pure functions of their key; the maps are bounded by dropping the oldest. */
function remember(map: Map<string, string>, key: string, make: () => string): string {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    if (map.size >= 20_000) map.delete(map.keys().next().value as string);
    map.set(key, value);
  }
  return value;
}

/** authentik's uid: a stable hash of the installation id and the user's pk. */
export function userUid(installId: string, id: number): string {
  return remember(uids, `${installId}-${id}`, () => sha256Hex(`${installId}-${id}`));
}

export function partialGroup(g: GroupRow): PartialGroupOut {
  return {
    pk: g.group_uuid,
    num_pk: g.num_pk,
    name: g.name,
    is_superuser: toBool(g.is_superuser),
    attributes: fromJson(g.attributes),
  };
}

export function partialUser(installId: string, row: UserRow): PartialUserOut {
  return {
    pk: row.id,
    username: row.username,
    name: row.name,
    is_active: toBool(row.is_active),
    last_login: toIsoOrNull(row.last_login),
    email: row.email,
    attributes: fromJson(row.attributes),
    uid: userUid(installId, row.id),
  };
}

export async function serializeUsers(
  db: Db,
  installId: string,
  rows: UserRow[],
  options: { includeGroups?: boolean } = {},
): Promise<UserOut[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const [groups, superusers, roles] = await Promise.all([
    groupsOfUsers(db, ids),
    superuserIds(db, ids),
    rolesOf(db, "role_users", ids),
  ]);
  return rows.map((row) => {
    const own = groups.get(row.id) ?? [];
    return {
      ...partialUser(installId, row),
      date_joined: toIso(row.date_joined),
      is_superuser: superusers.has(row.id),
      groups: own.map((g) => g.group_uuid),
      groups_obj: options.includeGroups === false ? null : own.map(partialGroup),
      roles: (roles.get(row.id) ?? []).map((r) => r.role_uuid),
      roles_obj: (roles.get(row.id) ?? []).map((r) => ({ pk: r.role_uuid, name: r.name })),
      avatar: initialsAvatar(row.name || row.username),
      path: row.path,
      type: row.type,
      uuid: row.uuid,
      password_change_date: toIso(row.password_change_date),
      last_updated: toIso(row.last_updated),
    };
  });
}

export async function serializeUser(db: Db, installId: string, row: UserRow): Promise<UserOut> {
  const [out] = await serializeUsers(db, installId, [row]);
  return out as UserOut;
}

/** An SVG data URI with the user's initials; no request leaves the server to draw an avatar. */
export function initialsAvatar(name: string): string {
  return remember(avatars, name, () => drawInitials(name));
}

function drawInitials(name: string): string {
  const initials =
    name
      .split(/\s+/)
      .filter(Boolean)
      .slice(0, 2)
      .map((p) => p[0]?.toUpperCase() ?? "")
      .join("")
      .replace(/[<>&"']/g, "") || "?";
  const hue = Number.parseInt(sha256Hex(name).slice(0, 4), 16) % 360;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="hsl(${hue},45%,45%)"/><text x="50%" y="50%" dy=".35em" text-anchor="middle" font-family="sans-serif" font-size="26" fill="#fff">${initials}</text></svg>`;
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString("base64")}`;
}

export interface UserSelfOut {
  pk: number;
  username: string;
  name: string;
  is_active: boolean;
  is_superuser: boolean;
  groups: { name: string; pk: string }[];
  roles: { name: string; pk: string }[];
  email: string;
  avatar: string;
  uid: string;
  settings: Record<string, unknown>;
  type: string;
  system_permissions: string[];
}

/** authentik's UserSelf: what /core/users/me/ tells a user about themselves. */
export async function userSelfOf(
  db: Db,
  installId: string,
  row: UserRow,
  superuser: boolean,
): Promise<UserSelfOut> {
  const groups = (await groupsOfUsers(db, [row.id])).get(row.id) ?? [];
  const roles = (await rolesOf(db, "role_users", [row.id])).get(row.id) ?? [];
  const attributes = fromJson<Record<string, unknown>>(row.attributes);
  return {
    pk: row.id,
    username: row.username,
    name: row.name,
    is_active: toBool(row.is_active),
    is_superuser: superuser,
    groups: groups.map((g) => ({ name: g.name, pk: g.group_uuid })),
    roles: roles.map((r) => ({ name: r.name, pk: r.role_uuid })),
    email: row.email,
    avatar: initialsAvatar(row.name || row.username),
    uid: userUid(installId, row.id),
    settings: (attributes.settings as Record<string, unknown> | undefined) ?? {},
    type: row.type,
    system_permissions: [],
  };
}
