/** /api/v3/managed/blueprints/: blueprint instances, `apply`, and the files `available` to them. */
import { type Static, Type as t } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { notFound, validationError } from "../../../shared/errors.ts";
import { auditModel } from "../api/audit.ts";
import { authenticated, noContent } from "../api/authenticated.ts";
import { parseBody } from "../api/body.ts";
import { isUuid } from "../api/formats.ts";
import { type PageRequest, pageRequest, paginate } from "../api/pagination.ts";
import { orderingParam } from "../api/query.ts";
import { requireSuperuser } from "../auth/actor.ts";
import { type CoreContext, inTransaction } from "../context.ts";
import { asJson } from "../store/codec.ts";
import { containsText } from "../store/search.ts";
import {
  applyInstance,
  availableFiles,
  checkContent,
  getInstance,
  type InstanceRow,
  serializeInstance,
} from "./instances.ts";

const InstanceRequest = t.Object({
  name: t.String({ minLength: 1, maxLength: 300 }),
  path: t.Optional(t.String({ maxLength: 1000 })),
  context: t.Optional(t.Record(t.String(), t.Unknown())),
  enabled: t.Optional(t.Boolean()),
  content: t.Optional(t.String({ maxLength: 1_000_000 })),
});
type InstanceRequest = Static<typeof InstanceRequest>;
const READ_ONLY = ["pk", "last_applied", "last_applied_hash", "status", "managed_models", "metadata"];

const model = (row: InstanceRow) => ({ name: "blueprintinstance", pk: row.instance_uuid, label: row.name });

function uuidOr404(raw: string): string {
  if (!isUuid(raw)) throw notFound("BP0050BadUuid", "No Blueprint Instance matches the given query.");
  return raw.toLowerCase();
}

export function blueprintsController(ctx: CoreContext, dirs: readonly string[]) {
  const validate = (input: Partial<InstanceRequest>) => {
    if (input.path && (input.path.includes("..") || input.path.startsWith("/"))) {
      throw validationError("BP0051BadPath", {
        path: ["The path must be relative to a blueprint directory."],
      });
    }
    if (input.path && !availableFiles(dirs).some((f) => f.path === input.path)) {
      throw validationError("BP0052UnknownPath", { path: [`No blueprint file named ${input.path}.`] });
    }
    if (input.content) checkContent(input.content);
  };
  const list = async (params: URLSearchParams, page: PageRequest) => {
    let q = ctx.store.db.selectFrom("blueprint_instances");
    const name = params.get("name");
    if (name !== null) q = q.where("name", "=", name);
    const path = params.get("path");
    if (path !== null) q = q.where("path", "=", path);
    const search = params.get("search");
    if (search) q = q.where(containsText(ctx.store.kind, "name", search));
    const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
    let rows = q.selectAll();
    for (const o of orderingParam(params, { name: "name", path: "path" } as const, [
      { column: "name", direction: "asc" },
    ])) {
      rows = rows.orderBy(o.column, o.direction);
    }
    const found = await rows.limit(page.pageSize).offset(page.offset).execute();
    return paginate(found.map(serializeInstance), Number(count), page);
  };
  const op = (verb: string) => ({ detail: { tags: ["managed"], operationId: `managed_blueprints_${verb}` } });
  const update = async (uuid: string, body: unknown, partial: boolean) => {
    const input = parseBody(InstanceRequest, body, { readOnly: READ_ONLY, partial });
    validate(input);
    const { context, ...rest } = input;
    return ctx.store.db
      .updateTable("blueprint_instances")
      .set({ ...rest, ...(context !== undefined && { context: asJson(context) }) })
      .where("instance_uuid", "=", uuidOr404(uuid))
      .returningAll()
      .executeTakeFirst();
  };

  return new Elysia({ prefix: "/managed/blueprints" })
    .use(authenticated(ctx))
    .onBeforeHandle(({ actor }) => requireSuperuser(actor))
    .get("/", ({ search }) => list(search, pageRequest(search)), op("list"))
    .get("/available/", () => availableFiles(dirs), op("available_list"))
    .post(
      "/",
      async ({ actor, meta, body, set }) => {
        const input = parseBody(InstanceRequest, body, { readOnly: READ_ONLY });
        validate(input);
        const out = await inTransaction(ctx, async (trx) => {
          if (
            await trx
              .selectFrom("blueprint_instances")
              .select("name")
              .where("name", "=", input.name)
              .executeTakeFirst()
          ) {
            throw validationError("BP0053NameTaken", {
              name: ["Blueprint Instance with this name already exists."],
            });
          }
          const row = await trx
            .insertInto("blueprint_instances")
            .values({
              instance_uuid: crypto.randomUUID(),
              name: input.name,
              path: input.path ?? "",
              context: asJson(input.context ?? {}),
              last_applied: null,
              last_applied_hash: "",
              status: "unknown",
              enabled: input.enabled ?? true,
              managed_models: asJson({ items: [] }),
              metadata: asJson(input.content ? checkContent(input.content) : {}),
              content: input.content ?? "",
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          await auditModel(ctx, trx, actor, meta, "model_created", model(row));
          return serializeInstance(row);
        });
        set.status = 201;
        return out;
      },
      op("create"),
    )
    .get(
      "/:uuid/",
      async ({ params }) => serializeInstance(await getInstance(ctx.store.db, uuidOr404(params.uuid))),
      op("retrieve"),
    )
    .put(
      "/:uuid/",
      async ({ params, body }) =>
        serializeInstance((await update(params.uuid, body, false)) ?? (await getInstance(ctx.store.db, "-"))),
      op("update"),
    )
    .patch(
      "/:uuid/",
      async ({ params, body }) =>
        serializeInstance((await update(params.uuid, body, true)) ?? (await getInstance(ctx.store.db, "-"))),
      op("partial_update"),
    )
    .delete(
      "/:uuid/",
      async ({ actor, meta, params }) => {
        await inTransaction(ctx, async (trx) => {
          const row = await getInstance(trx, uuidOr404(params.uuid));
          await trx
            .deleteFrom("blueprint_instances")
            .where("instance_uuid", "=", row.instance_uuid)
            .execute();
          await auditModel(ctx, trx, actor, meta, "model_deleted", model(row));
        });
        return noContent();
      },
      op("destroy"),
    )
    .post(
      "/:uuid/apply/",
      async ({ params }) =>
        serializeInstance(
          await applyInstance(ctx, await getInstance(ctx.store.db, uuidOr404(params.uuid)), dirs),
        ),
      op("apply_create"),
    );
}
