/** /api/v3/core/groups/ — authentik's GroupViewSet, with add_user/remove_user. */
import { Elysia } from "elysia";
import { notFound } from "../../../shared/errors.ts";
import { auditModel } from "../api/audit.ts";
import { authenticated, noContent } from "../api/authenticated.ts";
import { parseBody } from "../api/body.ts";
import { doc } from "../api/doc.ts";
import { isUuid } from "../api/formats.ts";
import { pageRequest } from "../api/pagination.ts";
import type { RequestMeta } from "../api/request.ts";
import { type Actor, requireSuperuser } from "../auth/actor.ts";
import { type CoreContext, inTransaction } from "../context.ts";
import { signalsDirectoryChanges } from "../outposts/directory-signal.ts";
import { readsDirectory } from "../outposts/service.ts";
import type { GroupRow } from "./membership.ts";
import { GROUP_READ_ONLY, GroupRequest, UserAccountRequest } from "./model.ts";
import {
  addMember,
  createGroup,
  deleteGroup,
  getGroup,
  includesFrom,
  listGroups,
  removeMember,
  serializeGroups,
  updateGroup,
} from "./service.ts";

interface Args {
  actor: Actor;
  meta: RequestMeta;
  body: unknown;
  params: { uuid: string };
  search: URLSearchParams;
}

const groupModel = (row: GroupRow) => ({ name: "group", pk: row.group_uuid, label: row.name });

function uuidParam(raw: string): string {
  if (!isUuid(raw)) throw notFound("GR0010BadUuid", "No Group matches the given query.");
  return raw.toLowerCase();
}

export function groupsController(ctx: CoreContext) {
  const serializeOne = async (
    db: Parameters<typeof serializeGroups>[1],
    row: GroupRow,
    search: URLSearchParams,
  ) => (await serializeGroups(ctx, db, [row], includesFrom(search)))[0];

  const update =
    (partial: boolean) =>
    async ({ actor, meta, body, params, search }: Args) => {
      requireSuperuser(actor);
      const uuid = uuidParam(params.uuid);
      const input = parseBody(GroupRequest, body, { readOnly: GROUP_READ_ONLY, partial });
      return inTransaction(ctx, async (trx) => {
        const row = await updateGroup(trx, uuid, input);
        await auditModel(ctx, trx, actor, meta, "model_updated", groupModel(row));
        return serializeOne(trx, row, search);
      });
    };

  const membership =
    (change: typeof addMember) =>
    async ({ actor, meta, body, params }: Args) => {
      requireSuperuser(actor);
      const uuid = uuidParam(params.uuid);
      const { pk } = parseBody(UserAccountRequest, body);
      await inTransaction(ctx, async (trx) => {
        const group = await getGroup(trx, uuid);
        await change(trx, group, pk);
        await auditModel(ctx, trx, actor, meta, "model_updated", groupModel(group));
      });
      return noContent();
    };

  return new Elysia({ prefix: "/core/groups" })
    .use(authenticated(ctx))
    .use(signalsDirectoryChanges(ctx, "groups"))
    .get(
      "/",
      async ({ actor, search }) =>
        listGroups(
          ctx,
          search,
          pageRequest(search),
          (await readsDirectory(ctx.store.db, actor)) ? {} : { memberId: actor.user.id },
        ),
      doc("core", "core_groups_list", "PaginatedGroupList"),
    )
    .post(
      "/",
      async ({ actor, meta, body, set, search }) => {
        requireSuperuser(actor);
        const input = parseBody(GroupRequest, body, { readOnly: GROUP_READ_ONLY });
        const out = await inTransaction(ctx, async (trx) => {
          const row = await createGroup(trx, input);
          await auditModel(ctx, trx, actor, meta, "model_created", groupModel(row));
          return serializeOne(trx, row, search);
        });
        set.status = 201;
        return out;
      },
      doc("core", "core_groups_create", "Group", GroupRequest, 201),
    )
    .get(
      "/:uuid/",
      async ({ actor, params, search }) => {
        const row = await getGroup(ctx.store.db, uuidParam(params.uuid));
        // Whoever may list every group (superusers, LDAP outposts) may read each one.
        if (!(await readsDirectory(ctx.store.db, actor))) {
          const member = await ctx.store.db
            .selectFrom("group_members")
            .select("user_id")
            .where("group_id", "=", row.num_pk)
            .where("user_id", "=", actor.user.id)
            .executeTakeFirst();
          if (!member) throw notFound("GR0011NotVisible", "No Group matches the given query.");
        }
        return serializeOne(ctx.store.db, row, search);
      },
      doc("core", "core_groups_retrieve", "Group"),
    )
    .put("/:uuid/", update(false), doc("core", "core_groups_update", "Group", GroupRequest))
    .patch("/:uuid/", update(true), doc("core", "core_groups_partial_update", "Group", GroupRequest))
    .delete(
      "/:uuid/",
      async ({ actor, meta, params }) => {
        requireSuperuser(actor);
        const uuid = uuidParam(params.uuid);
        await inTransaction(ctx, async (trx) => {
          const row = await deleteGroup(trx, uuid);
          await auditModel(ctx, trx, actor, meta, "model_deleted", groupModel(row));
        });
        return noContent();
      },
      doc("core", "core_groups_destroy", "No response body", undefined, 204),
    )
    .post(
      "/:uuid/add_user/",
      membership(addMember),
      doc("core", "core_groups_add_user_create", "User added", UserAccountRequest, 204),
    )
    .post(
      "/:uuid/remove_user/",
      membership(removeMember),
      doc("core", "core_groups_remove_user_create", "User removed", UserAccountRequest, 204),
    );
}
