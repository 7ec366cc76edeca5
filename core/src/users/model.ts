/** Request schemas for /core/users/, as authentik's UserRequest, PatchedUserRequest and friends. */
import { type Static, Type as t } from "@sinclair/typebox";

export const USER_TYPES = ["internal", "external", "service_account", "internal_service_account"] as const;
export type UserType = (typeof USER_TYPES)[number];

const path = t.String({ minLength: 1, maxLength: 200, pattern: "^[^/](.*[^/])?$" });

export const UserRequest = t.Object({
  username: t.String({ minLength: 1, maxLength: 150, pattern: "^[^\\x00-\\x1f\\x7f]+$" }),
  name: t.String({ maxLength: 300 }),
  is_active: t.Optional(t.Boolean()),
  last_login: t.Optional(t.Union([t.String({ format: "date-time" }), t.Null()])),
  groups: t.Optional(t.Array(t.String({ format: "uuid" }), { maxItems: 10_000 })),
  roles: t.Optional(t.Array(t.String({ format: "uuid" }))),
  email: t.Optional(t.String({ format: "email", maxLength: 254 })),
  attributes: t.Optional(t.Record(t.String(), t.Unknown())),
  path: t.Optional(path),
  type: t.Optional(t.Union(USER_TYPES.map((v) => t.Literal(v)))),
});
export type UserRequest = Static<typeof UserRequest>;

/** Fields a client may echo back from a read; they are ignored on write. */
export const USER_READ_ONLY = [
  "pk",
  "date_joined",
  "is_superuser",
  "groups_obj",
  "roles_obj",
  "avatar",
  "uid",
  "uuid",
  "password_change_date",
  "last_updated",
] as const;

export const UserPasswordSetRequest = t.Object({ password: t.String({ minLength: 1, maxLength: 4096 }) });

export const UserServiceAccountRequest = t.Object({
  name: t.String({ minLength: 1, maxLength: 150 }),
  create_group: t.Optional(t.Boolean()),
  expiring: t.Optional(t.Boolean()),
  expires: t.Optional(t.String({ format: "date-time" })),
});
