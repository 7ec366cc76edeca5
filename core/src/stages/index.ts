/** /api/v3/stages/all/ and /api/v3/stages/<type>/ for every stage type Gatehouse knows. */
import { Elysia } from "elysia";
import { auditModel } from "../api/audit.ts";
import { authenticated, noContent } from "../api/authenticated.ts";
import { crudRoutes, uuidKey } from "../api/crud.ts";
import { pageRequest } from "../api/pagination.ts";
import { requireSuperuser } from "../auth/actor.ts";
import { type CoreContext, inTransaction } from "../context.ts";
import { STAGE_KINDS } from "./kinds.ts";
import {
  createStage,
  deleteStage,
  getStage,
  listStages,
  STAGE_READ_ONLY,
  type StageRow,
  serializeStages,
  stageRequestSchema,
  stageTypes,
  updateStage,
} from "./service.ts";

const stageModel = (row: StageRow) => ({ name: row.kind, pk: row.stage_uuid, label: row.name });
const op = (operationId: string) => ({ detail: { tags: ["stages"], operationId } });

export function stagesController(ctx: CoreContext) {
  const app = new Elysia({ prefix: "/stages" })
    .use(authenticated(ctx))
    .onBeforeHandle(({ actor }) => requireSuperuser(actor))
    .get("/all/", ({ search }) => listStages(ctx, search, pageRequest(search)), op("stages_all_list"))
    .get("/all/types/", () => stageTypes(), op("stages_all_types_list"))
    .get(
      "/all/:uuid/",
      async ({ params }) =>
        (await serializeStages(ctx.store.db, [await getStage(ctx.store.db, uuidKey(params.uuid))]))[0],
      op("stages_all_retrieve"),
    )
    .delete(
      "/all/:uuid/",
      async ({ actor, meta, params }) => {
        await inTransaction(ctx, async (trx) => {
          const row = await deleteStage(trx, uuidKey(params.uuid));
          await auditModel(ctx, trx, actor, meta, "model_deleted", stageModel(row));
        });
        return noContent();
      },
      op("stages_all_destroy"),
    );
  for (const kind of STAGE_KINDS) {
    app.use(
      crudRoutes(ctx, {
        prefix: `/${kind.apiName}`,
        tag: "stages",
        operation: `stages_${kind.apiName.replaceAll("/", "_")}`,
        schema: stageRequestSchema(kind),
        readOnly: STAGE_READ_ONLY,
        list: (c, params, page) => listStages(c, params, page, kind),
        get: (db, key) => getStage(db, key, kind),
        create: (db, input) => createStage(db, kind, input),
        update: (db, key, input) => updateStage(db, kind, key, input),
        remove: (db, key) => deleteStage(db, key, kind),
        serialize: async (db, row) => (await serializeStages(db, [row]))[0],
        model: stageModel,
      }),
    );
  }
  return app;
}
