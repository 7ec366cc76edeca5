/** /api/v3/core/users/ — authentik's UserViewSet. */
import { Elysia } from "elysia";
import { forbidden } from "../../../shared/errors.ts";
import { audit, auditModel } from "../api/audit.ts";
import { authenticated, intId, noContent } from "../api/authenticated.ts";
import { parseBody } from "../api/body.ts";
import { doc } from "../api/doc.ts";
import { pageRequest } from "../api/pagination.ts";
import type { RequestMeta } from "../api/request.ts";
import { type Actor, requireSelfOrSuperuser, requireSuperuser } from "../auth/actor.ts";
import { type CoreContext, inTransaction } from "../context.ts";
import { signalsDirectoryChanges } from "../outposts/directory-signal.ts";
import { readsDirectory } from "../outposts/service.ts";
import { USER_READ_ONLY, UserPasswordSetRequest, UserRequest, UserServiceAccountRequest } from "./model.ts";
import { serializeUser, userSelfOf } from "./serialize.ts";
import {
  createUser,
  deleteUser,
  getUser,
  hashPassword,
  listUsers,
  setPasswordHash,
  updateUser,
} from "./service.ts";
import { createServiceAccount } from "./service-account.ts";

/** What a user who is not a superuser may change about themselves. */
const SELF_EDITABLE = new Set(["name", "email"]);

const userModel = (row: { id: number; username: string }) => ({
  name: "user",
  pk: row.id,
  label: row.username,
});

export function usersController(ctx: CoreContext) {
  const update =
    (partial: boolean) =>
    async ({ actor, meta, body, params }: UpdateArgs) => {
      const id = intId(params.id);
      requireSelfOrSuperuser(actor, id);
      const input = parseBody(UserRequest, body, { readOnly: USER_READ_ONLY, partial });
      if (!actor.superuser && Object.keys(input).some((k) => !SELF_EDITABLE.has(k))) {
        throw forbidden("US0010SelfEditLimited", "You may change only your own name and email.");
      }
      return inTransaction(ctx, async (trx) => {
        const row = await updateUser(ctx, trx, id, input);
        await auditModel(ctx, trx, actor, meta, "model_updated", userModel(row));
        return serializeUser(trx, ctx.installId, row);
      });
    };

  return new Elysia({ prefix: "/core/users" })
    .use(authenticated(ctx))
    .use(signalsDirectoryChanges(ctx, "users"))
    .get(
      "/",
      async ({ actor, search }) =>
        listUsers(
          ctx,
          search,
          pageRequest(search),
          (await readsDirectory(ctx.store.db, actor)) ? {} : { onlyUserId: actor.user.id },
        ),
      doc("core", "core_users_list", "PaginatedUserList"),
    )
    .post(
      "/",
      async ({ actor, meta, body, set }) => {
        requireSuperuser(actor);
        const input = parseBody(UserRequest, body, { readOnly: USER_READ_ONLY });
        const out = await inTransaction(ctx, async (trx) => {
          const row = await createUser(ctx, trx, input);
          await auditModel(ctx, trx, actor, meta, "model_created", userModel(row));
          return serializeUser(trx, ctx.installId, row);
        });
        set.status = 201;
        return out;
      },
      doc("core", "core_users_create", "User", UserRequest, 201),
    )
    .get(
      "/me/",
      async ({ actor }) => ({
        user: await userSelfOf(ctx.store.db, ctx.installId, actor.user, actor.superuser),
      }),
      doc("core", "core_users_me_retrieve", "SessionUser"),
    )
    .get(
      "/paths/",
      async ({ actor }) => {
        requireSuperuser(actor);
        const rows = await ctx.store.db
          .selectFrom("users")
          .select("path")
          .distinct()
          .orderBy("path")
          .execute();
        return { paths: rows.map((r) => r.path) };
      },
      doc("core", "core_users_paths_retrieve", "UserPath"),
    )
    .post(
      "/service_account/",
      async ({ actor, meta, body }) => {
        requireSuperuser(actor);
        const input = parseBody(UserServiceAccountRequest, body);
        return inTransaction(ctx, async (trx) => {
          const created = await createServiceAccount(ctx, trx, input);
          await auditModel(ctx, trx, actor, meta, "model_created", {
            name: "user",
            pk: created.user_pk,
            label: created.username,
          });
          return created;
        });
      },
      doc(
        "core",
        "core_users_service_account_create",
        "UserServiceAccountResponse",
        UserServiceAccountRequest,
      ),
    )
    .get(
      "/:id/",
      async ({ actor, params }) => {
        const id = intId(params.id);
        requireSelfOrSuperuser(actor, id);
        return serializeUser(ctx.store.db, ctx.installId, await getUser(ctx.store.db, id));
      },
      doc("core", "core_users_retrieve", "User"),
    )
    .put("/:id/", update(false), doc("core", "core_users_update", "User", UserRequest))
    .patch("/:id/", update(true), doc("core", "core_users_partial_update", "User", UserRequest))
    .delete(
      "/:id/",
      async ({ actor, meta, params }) => {
        requireSuperuser(actor);
        await inTransaction(ctx, async (trx) => {
          const row = await deleteUser(trx, intId(params.id));
          await auditModel(ctx, trx, actor, meta, "model_deleted", userModel(row));
        });
        return noContent();
      },
      doc("core", "core_users_destroy", "No response body", undefined, 204),
    )
    .post(
      "/:id/set_password/",
      async ({ actor, meta, body, params }: UpdateArgs) => {
        const id = intId(params.id);
        requireSelfOrSuperuser(actor, id);
        const { password } = parseBody(UserPasswordSetRequest, body);
        const hash = await hashPassword(password);
        await inTransaction(ctx, async (trx) => {
          const row = await setPasswordHash(ctx, trx, id, hash);
          await audit(ctx, trx, actor, meta, "password_set", {
            user: { pk: row.id, username: row.username },
          });
        });
        return noContent();
      },
      doc(
        "core",
        "core_users_set_password_create",
        "Successfully changed password",
        UserPasswordSetRequest,
        204,
      ),
    );
}

interface UpdateArgs {
  actor: Actor;
  meta: RequestMeta;
  body: unknown;
  params: { id: string };
}
