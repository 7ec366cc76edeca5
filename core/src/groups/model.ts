/** Request schemas for /core/groups/, as authentik's GroupRequest. */
import { type Static, Type as t } from "@sinclair/typebox";

export const GroupRequest = t.Object({
  name: t.String({ minLength: 1, maxLength: 300 }),
  is_superuser: t.Optional(t.Boolean()),
  parents: t.Optional(t.Array(t.String({ format: "uuid" }), { maxItems: 1000 })),
  users: t.Optional(t.Array(t.Integer({ minimum: 1 }), { maxItems: 100_000 })),
  attributes: t.Optional(t.Record(t.String(), t.Unknown())),
  roles: t.Optional(t.Array(t.String({ format: "uuid" }))),
});
export type GroupRequest = Static<typeof GroupRequest>;

export const GROUP_READ_ONLY = [
  "pk",
  "num_pk",
  "parents_obj",
  "users_obj",
  "roles_obj",
  "inherited_roles_obj",
  "children",
  "children_obj",
] as const;

export const UserAccountRequest = t.Object({ pk: t.Integer({ minimum: 1 }) });
