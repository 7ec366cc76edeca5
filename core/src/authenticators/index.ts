/**
 * /api/v3/authenticators/{all,totp,static}/ (the caller's own devices) and
 * /api/v3/authenticators/admin/{all,totp,static}/ (superusers, any user's). Secrets never leave.
 */
import { Type as t } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { notFound } from "../../../shared/errors.ts";
import { auditModel } from "../api/audit.ts";
import { authenticated, intId, noContent } from "../api/authenticated.ts";
import { parseBody } from "../api/body.ts";
import { type PageRequest, pageRequest, paginate } from "../api/pagination.ts";
import { intListParam } from "../api/query.ts";
import { type Actor, requireSuperuser } from "../auth/actor.ts";
import { type CoreContext, inTransaction } from "../context.ts";
import { signalsDirectoryChanges } from "../outposts/directory-signal.ts";
import { toBool, toIso, toIsoOrNull } from "../store/codec.ts";
import { partialUser } from "../users/serialize.ts";
import type { DeviceRow } from "./devices.ts";

const KINDS = {
  totp: { model: "totpdevice", app: "authentik_stages_authenticator_totp", verbose: "TOTP Device" },
  static: { model: "staticdevice", app: "authentik_stages_authenticator_static", verbose: "Static Device" },
  webauthn: {
    model: "webauthndevice",
    app: "authentik_stages_authenticator_webauthn",
    verbose: "WebAuthn Device",
  },
} as const;
type Kind = keyof typeof KINDS;

const DeviceUpdate = t.Object({ name: t.String({ minLength: 1, maxLength: 64 }) });
const READ_ONLY = ["pk", "user", "token_set", "type", "confirmed", "created", "last_updated", "last_used"];

async function listDevices(
  ctx: CoreContext,
  kinds: Kind[],
  userIds: number[] | undefined,
  page: PageRequest,
) {
  let q = ctx.store.db
    .selectFrom("authenticator_devices")
    .where("kind", "in", kinds)
    .where("confirmed", "=", true);
  if (userIds) q = q.where("user_id", "in", userIds.length ? userIds : [-1]);
  const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  const rows = await q.selectAll().orderBy("id").limit(page.pageSize).offset(page.offset).execute();
  return { rows, count: Number(count) };
}

async function serialize(ctx: CoreContext, rows: DeviceRow[], shape: "typed" | "all") {
  const userIds = [...new Set(rows.map((r) => r.user_id))];
  const users = userIds.length
    ? await ctx.store.db.selectFrom("users").selectAll().where("id", "in", userIds).execute()
    : [];
  return rows.map((r) => {
    const kind = KINDS[r.kind as Kind];
    if (shape === "all") {
      return {
        verbose_name: kind.verbose,
        verbose_name_plural: `${kind.verbose}s`,
        meta_model_name: `${kind.app}.${kind.model}`,
        pk: String(r.id),
        name: r.name,
        type: `${kind.app}.${kind.model}`,
        confirmed: toBool(r.confirmed),
        created: toIso(r.created),
        last_updated: toIso(r.last_updated),
        last_used: toIsoOrNull(r.last_used),
        extra_description: null,
        external_id: null,
      };
    }
    const user = users.find((u) => u.id === r.user_id);
    return {
      name: r.name,
      pk: r.id,
      user: user ? partialUser(ctx.installId, user) : null,
      // Static codes are stored hashed; they are shown only once, when made.
      ...(r.kind === "static" && { token_set: [] }),
    };
  });
}

function deviceRoutes(ctx: CoreContext, kind: Kind, admin: boolean) {
  const scope = (actor: Actor) => (admin ? undefined : actor.user.id);
  const find = async (actor: Actor, id: number) => {
    let q = ctx.store.db
      .selectFrom("authenticator_devices")
      .selectAll()
      .where("id", "=", id)
      .where("kind", "=", kind);
    const own = scope(actor);
    if (own !== undefined) q = q.where("user_id", "=", own);
    const row = await q.executeTakeFirst();
    if (!row) throw notFound("AT0001DeviceNotFound", "No Device matches the given query.");
    return row;
  };
  const model = (row: DeviceRow) => ({ name: KINDS[kind].model, pk: row.id, label: row.name });
  const update = async ({
    actor,
    meta,
    params,
    body,
  }: {
    actor: Actor;
    meta: Parameters<typeof auditModel>[3];
    params: { id: string };
    body: unknown;
  }) => {
    const { name } = parseBody(DeviceUpdate, body, { readOnly: READ_ONLY });
    const row = await find(actor, intId(params.id));
    return inTransaction(ctx, async (trx) => {
      const updated = await trx
        .updateTable("authenticator_devices")
        .set({ name, last_updated: ctx.clock().toISOString() })
        .where("id", "=", row.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await auditModel(ctx, trx, actor, meta, "model_updated", model(updated));
      return (await serialize(ctx, [updated], "typed"))[0];
    });
  };
  const op = (verb: string) => ({
    detail: {
      tags: ["authenticators"],
      operationId: `authenticators_${admin ? "admin_" : ""}${kind}_${verb}`,
    },
  });
  return new Elysia({ prefix: `/${kind}` })
    .use(authenticated(ctx))
    .use(signalsDirectoryChanges(ctx, "credentials"))
    .onBeforeHandle(({ actor }) => (admin ? requireSuperuser(actor) : undefined))
    .get(
      "/",
      async ({ actor, search }) => {
        const page = pageRequest(search);
        const users = admin ? intListParam(search, "user") : [actor.user.id];
        const { rows, count } = await listDevices(
          ctx,
          [kind],
          admin && users.length === 0 ? undefined : users,
          page,
        );
        return paginate(await serialize(ctx, rows, "typed"), count, page);
      },
      op("list"),
    )
    .get(
      "/:id/",
      async ({ actor, params }) => (await serialize(ctx, [await find(actor, intId(params.id))], "typed"))[0],
      op("retrieve"),
    )
    .put("/:id/", update, op("update"))
    .patch("/:id/", update, op("partial_update"))
    .delete(
      "/:id/",
      async ({ actor, meta, params }) => {
        const row = await find(actor, intId(params.id));
        await inTransaction(ctx, async (trx) => {
          await trx.deleteFrom("authenticator_devices").where("id", "=", row.id).execute();
          await auditModel(ctx, trx, actor, meta, "model_deleted", model(row));
        });
        return noContent();
      },
      op("destroy"),
    );
}

export function authenticatorsController(ctx: CoreContext) {
  const all = (admin: boolean) =>
    new Elysia().use(authenticated(ctx)).get(
      "/all/",
      async ({ actor, search }) => {
        if (admin) requireSuperuser(actor);
        const users = admin ? intListParam(search, "user") : [actor.user.id];
        const { rows } = await listDevices(
          ctx,
          ["totp", "static", "webauthn"],
          admin && users.length === 0 ? undefined : users,
          pageRequest(search),
        );
        return serialize(ctx, rows, "all");
      },
      {
        detail: { tags: ["authenticators"], operationId: `authenticators_${admin ? "admin_" : ""}all_list` },
      },
    );
  return new Elysia({ prefix: "/authenticators" })
    .use(all(false))
    .use(deviceRoutes(ctx, "totp", false))
    .use(deviceRoutes(ctx, "static", false))
    .use(deviceRoutes(ctx, "webauthn", false))
    .use(
      new Elysia({ prefix: "/admin" })
        .use(all(true))
        .use(deviceRoutes(ctx, "totp", true))
        .use(deviceRoutes(ctx, "static", true))
        .use(deviceRoutes(ctx, "webauthn", true)),
    );
}
