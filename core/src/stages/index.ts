/** /api/v3/stages/all/ and /api/v3/stages/<type>/ for every stage type Gatehouse knows. */
import { Elysia } from "elysia";
import { notFound } from "../../../shared/errors.ts";
import { auditModel } from "../api/audit.ts";
import { authenticated, noContent } from "../api/authenticated.ts";
import { isUuid } from "../api/formats.ts";
import { pageRequest } from "../api/pagination.ts";
import type { RequestMeta } from "../api/request.ts";
import { type Actor, requireSuperuser } from "../auth/actor.ts";
import { type CoreContext, inTransaction } from "../context.ts";
import { STAGE_KINDS } from "./kinds.ts";
import {
  createStage,
  deleteStage,
  getStage,
  listStages,
  type StageRow,
  serializeStages,
  stageTypes,
  updateStage,
} from "./service.ts";
import type { StageKind } from "./types.ts";

const stageModel = (row: StageRow) => ({ name: row.kind, pk: row.stage_uuid, label: row.name });

function uuidOr404(raw: string): string {
  if (!isUuid(raw)) throw notFound("SG0010BadUuid", "No Stage matches the given query.");
  return raw.toLowerCase();
}

export function stagesController(ctx: CoreContext) {
  const one = async (row: StageRow) => (await serializeStages(ctx.store.db, [row]))[0];
  const app = new Elysia({ prefix: "/stages" })
    .use(authenticated(ctx))
    .onBeforeHandle(({ actor }) => requireSuperuser(actor))
    .get("/all/", ({ search }) => listStages(ctx, search, pageRequest(search)), {
      detail: { tags: ["stages"], operationId: "stages_all_list" },
    })
    .get("/all/types/", () => stageTypes(), {
      detail: { tags: ["stages"], operationId: "stages_all_types_list" },
    })
    .get("/all/:uuid/", async ({ params }) => one(await getStage(ctx.store.db, uuidOr404(params.uuid))), {
      detail: { tags: ["stages"], operationId: "stages_all_retrieve" },
    })
    .delete("/all/:uuid/", async ({ actor, meta, params }) => {
      await inTransaction(ctx, async (trx) => {
        const row = await deleteStage(trx, uuidOr404(params.uuid));
        await auditModel(ctx, trx, actor, meta, "model_deleted", stageModel(row));
      });
      return noContent();
    });
  for (const kind of STAGE_KINDS) app.use(kindRoutes(ctx, kind, one));
  return app;
}

function kindRoutes(ctx: CoreContext, kind: StageKind, one: (row: StageRow) => Promise<unknown>) {
  const op = (verb: string) => ({
    detail: { tags: ["stages"], operationId: `stages_${kind.apiName.replaceAll("/", "_")}_${verb}` },
  });
  return new Elysia({ prefix: `/${kind.apiName}` })
    .use(authenticated(ctx))
    .onBeforeHandle(({ actor }) => requireSuperuser(actor))
    .get("/", ({ search }) => listStages(ctx, search, pageRequest(search), kind), op("list"))
    .post(
      "/",
      async ({ actor, meta, body, set }) => {
        const out = await inTransaction(ctx, async (trx) => {
          const row = await createStage(trx, kind, body);
          await auditModel(ctx, trx, actor, meta, "model_created", stageModel(row));
          return (await serializeStages(trx, [row]))[0];
        });
        set.status = 201;
        return out;
      },
      op("create"),
    )
    .get(
      "/:uuid/",
      async ({ params }) => one(await getStage(ctx.store.db, uuidOr404(params.uuid), kind)),
      op("retrieve"),
    )
    .put(
      "/:uuid/",
      ({ actor, meta, params, body }) => update(ctx, kind, { actor, meta, uuid: params.uuid, body }, false),
      op("update"),
    )
    .patch(
      "/:uuid/",
      ({ actor, meta, params, body }) => update(ctx, kind, { actor, meta, uuid: params.uuid, body }, true),
      op("partial_update"),
    )
    .delete(
      "/:uuid/",
      async ({ actor, meta, params }) => {
        await inTransaction(ctx, async (trx) => {
          const row = await deleteStage(trx, uuidOr404(params.uuid), kind);
          await auditModel(ctx, trx, actor, meta, "model_deleted", stageModel(row));
        });
        return noContent();
      },
      op("destroy"),
    );
}

function update(
  ctx: CoreContext,
  kind: StageKind,
  req: { actor: Actor; meta: RequestMeta; uuid: string; body: unknown },
  partial: boolean,
) {
  return inTransaction(ctx, async (trx) => {
    const row = await updateStage(trx, kind, uuidOr404(req.uuid), req.body, partial);
    await auditModel(ctx, trx, req.actor, req.meta, "model_updated", stageModel(row));
    return (await serializeStages(trx, [row]))[0];
  });
}
