/** /api/v3/rbac/roles/ (with add_user/remove_user) and /api/v3/rbac/permissions/assigned_by_roles/. */
import { Type as t } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { notFound } from "../../../shared/errors.ts";
import { audit } from "../api/audit.ts";
import { authenticated, noContent } from "../api/authenticated.ts";
import { parseBody } from "../api/body.ts";
import { crudRoutes, uuidKey } from "../api/crud.ts";
import { requireSuperuser } from "../auth/actor.ts";
import { type CoreContext, inTransaction } from "../context.ts";
import { signalsDirectoryChanges } from "../outposts/directory-signal.ts";
import {
  assignPermissions,
  createRole,
  deleteRole,
  getRole,
  listRoles,
  PermissionAssignRequest,
  RoleRequest,
  serializeRole,
  unassignPermissions,
  updateRole,
} from "./service.ts";

const UserPk = t.Object({ pk: t.Integer({ minimum: 1 }) });
const op = (operationId: string) => ({ detail: { tags: ["rbac"], operationId } });

export function rbacController(ctx: CoreContext) {
  const membership =
    (add: boolean) =>
    async ({
      actor,
      meta,
      params,
      body,
    }: {
      actor: Parameters<typeof requireSuperuser>[0];
      meta: Parameters<typeof audit>[3];
      params: { uuid: string };
      body: unknown;
    }) => {
      requireSuperuser(actor);
      const { pk } = parseBody(UserPk, body);
      await inTransaction(ctx, async (trx) => {
        const role = await getRole(trx, uuidKey(params.uuid));
        if (!(await trx.selectFrom("users").select("id").where("id", "=", pk).executeTakeFirst()))
          throw notFound("RB0010UserNotFound", "User not found.");
        await trx
          .deleteFrom("role_users")
          .where("role", "=", role.role_uuid)
          .where("user_id", "=", pk)
          .execute();
        if (add) await trx.insertInto("role_users").values({ role: role.role_uuid, user_id: pk }).execute();
        await audit(ctx, trx, actor, meta, "model_updated", {
          model: { app: "authentik_rbac", model_name: "role", pk: role.role_uuid, name: role.name },
        });
      });
      return noContent();
    };

  const roles = crudRoutes(ctx, {
    prefix: "/rbac/roles",
    tag: "rbac",
    operation: "rbac_roles",
    schema: RoleRequest,
    readOnly: ["pk"],
    list: listRoles,
    get: getRole,
    create: (db, input) => createRole(db, input),
    update: updateRole,
    remove: deleteRole,
    serialize: (_db, row) => serializeRole(row),
    model: (row) => ({ name: "role", pk: row.role_uuid, label: row.name }),
  });

  const permissions = new Elysia({ prefix: "/rbac/permissions/assigned_by_roles" })
    .use(authenticated(ctx))
    .onBeforeHandle(({ actor }) => requireSuperuser(actor))
    .get(
      "/",
      async ({ search }) => {
        let q = ctx.store.db
          .selectFrom("role_permissions as p")
          .innerJoin("roles as r", "r.role_uuid", "p.role")
          .selectAll("p")
          .select("r.name");
        const model = search.get("model");
        if (model) q = q.where("p.model", "=", model);
        const objectPk = search.get("object_pk");
        if (objectPk) q = q.where("p.object_pk", "=", objectPk);
        const rows = await q.orderBy("r.name").execute();
        const byRole = new Map<
          string,
          { role_pk: string; name: string; object_permissions: unknown[]; model_permissions: unknown[] }
        >();
        for (const r of rows) {
          const entry = byRole.get(r.role) ?? {
            role_pk: r.role,
            name: r.name,
            object_permissions: [],
            model_permissions: [],
          };
          const [app_label, codename] = r.permission.split(".");
          const perm = {
            id: r.id,
            codename,
            model: r.model?.split(".")[1] ?? "",
            app_label,
            object_pk: r.object_pk,
            name: r.permission,
          };
          (r.object_pk === null ? entry.model_permissions : entry.object_permissions).push(perm);
          byRole.set(r.role, entry);
        }
        const results = [...byRole.values()];
        return {
          pagination: {
            next: 0,
            previous: 0,
            count: results.length,
            current: 1,
            total_pages: 1,
            start_index: results.length ? 1 : 0,
            end_index: results.length,
          },
          results,
          autocomplete: {},
        };
      },
      op("rbac_permissions_assigned_by_roles_list"),
    )
    .post(
      "/:uuid/assign/",
      async ({ actor, meta, params, body }) => {
        const input = parseBody(PermissionAssignRequest, body);
        return inTransaction(ctx, async (trx) => {
          const out = await assignPermissions(trx, uuidKey(params.uuid), input);
          await audit(ctx, trx, actor, meta, "model_updated", {
            model: { app: "authentik_rbac", model_name: "role", pk: params.uuid, name: "" },
            assigned: input,
          });
          return out;
        });
      },
      op("rbac_permissions_assigned_by_roles_assign"),
    )
    .patch(
      "/:uuid/unassign/",
      async ({ actor, meta, params, body }) => {
        const input = parseBody(PermissionAssignRequest, body, { partial: true });
        await inTransaction(ctx, async (trx) => {
          await unassignPermissions(trx, uuidKey(params.uuid), input);
          await audit(ctx, trx, actor, meta, "model_updated", {
            model: { app: "authentik_rbac", model_name: "role", pk: params.uuid, name: "" },
            unassigned: input,
          });
        });
        return noContent();
      },
      op("rbac_permissions_assigned_by_roles_unassign_partial_update"),
    );

  return new Elysia()
    .use(signalsDirectoryChanges(ctx, "credentials"))
    .use(
      new Elysia({ prefix: "/rbac/roles" })
        .use(authenticated(ctx))
        .post("/:uuid/add_user/", membership(true), op("rbac_roles_add_user_create"))
        .post("/:uuid/remove_user/", membership(false), op("rbac_roles_remove_user_create")),
    )
    .use(roles)
    .use(permissions);
}
