/** /api/v3/flows/instances/ (by slug) and /api/v3/flows/bindings/. */
import { Elysia } from "elysia";
import { notFound } from "../../../shared/errors.ts";
import { auditModel } from "../api/audit.ts";
import { authenticated, noContent } from "../api/authenticated.ts";
import { parseBody } from "../api/body.ts";
import { isUuid } from "../api/formats.ts";
import { pageRequest } from "../api/pagination.ts";
import type { RequestMeta } from "../api/request.ts";
import { type Actor, requireSuperuser } from "../auth/actor.ts";
import { type CoreContext, inTransaction } from "../context.ts";
import type { FlowRow } from "../stages/types.ts";
import { BINDING_READ_ONLY, FLOW_READ_ONLY, FlowRequest, FlowStageBindingRequest } from "./model.ts";
import {
  type BindingRow,
  createBinding,
  createFlow,
  deleteBinding,
  deleteFlow,
  getBinding,
  getFlow,
  listBindings,
  listFlows,
  serializeBindings,
  serializeFlows,
  updateBinding,
  updateFlow,
} from "./service.ts";

const flowModel = (row: FlowRow) => ({ name: "flow", pk: row.flow_uuid, label: row.slug });
const bindingModel = (row: BindingRow) => ({
  name: "flowstagebinding",
  pk: row.fsb_uuid,
  label: row.fsb_uuid,
});
type Req = { actor: Actor; meta: RequestMeta; key: string; body: unknown };

export function flowsController(ctx: CoreContext) {
  const op = (verb: string) => ({ detail: { tags: ["flows"], operationId: `flows_instances_${verb}` } });
  const update = (req: Req, partial: boolean) =>
    inTransaction(ctx, async (trx) => {
      const input = parseBody(FlowRequest, req.body, { readOnly: FLOW_READ_ONLY, partial });
      const row = await updateFlow(trx, req.key, input);
      await auditModel(ctx, trx, req.actor, req.meta, "model_updated", flowModel(row));
      return (await serializeFlows(trx, [row]))[0];
    });
  return new Elysia({ prefix: "/flows/instances" })
    .use(authenticated(ctx))
    .onBeforeHandle(({ actor }) => requireSuperuser(actor))
    .get("/", ({ search }) => listFlows(ctx, search, pageRequest(search)), op("list"))
    .post(
      "/",
      async ({ actor, meta, body, set }) => {
        const input = parseBody(FlowRequest, body, { readOnly: FLOW_READ_ONLY });
        const out = await inTransaction(ctx, async (trx) => {
          const row = await createFlow(trx, input);
          await auditModel(ctx, trx, actor, meta, "model_created", flowModel(row));
          return (await serializeFlows(trx, [row]))[0];
        });
        set.status = 201;
        return out;
      },
      op("create"),
    )
    .get(
      "/:slug/",
      async ({ params }) =>
        (await serializeFlows(ctx.store.db, [await getFlow(ctx.store.db, params.slug)]))[0],
      op("retrieve"),
    )
    .put(
      "/:slug/",
      ({ actor, meta, params, body }) => update({ actor, meta, key: params.slug, body }, false),
      op("update"),
    )
    .patch(
      "/:slug/",
      ({ actor, meta, params, body }) => update({ actor, meta, key: params.slug, body }, true),
      op("partial_update"),
    )
    .delete(
      "/:slug/",
      async ({ actor, meta, params }) => {
        await inTransaction(ctx, async (trx) => {
          const row = await deleteFlow(trx, params.slug);
          await auditModel(ctx, trx, actor, meta, "model_deleted", flowModel(row));
        });
        return noContent();
      },
      op("destroy"),
    );
}

function uuidOr404(raw: string): string {
  if (!isUuid(raw)) throw notFound("FL0040BadUuid", "No Flow Stage Binding matches the given query.");
  return raw.toLowerCase();
}

export function flowBindingsController(ctx: CoreContext) {
  const op = (verb: string) => ({ detail: { tags: ["flows"], operationId: `flows_bindings_${verb}` } });
  const update = (req: Req, partial: boolean) =>
    inTransaction(ctx, async (trx) => {
      const input = parseBody(FlowStageBindingRequest, req.body, { readOnly: BINDING_READ_ONLY, partial });
      const row = await updateBinding(trx, uuidOr404(req.key), input);
      await auditModel(ctx, trx, req.actor, req.meta, "model_updated", bindingModel(row));
      return (await serializeBindings(trx, [row]))[0];
    });
  return new Elysia({ prefix: "/flows/bindings" })
    .use(authenticated(ctx))
    .onBeforeHandle(({ actor }) => requireSuperuser(actor))
    .get("/", ({ search }) => listBindings(ctx, search, pageRequest(search)), op("list"))
    .post(
      "/",
      async ({ actor, meta, body, set }) => {
        const input = parseBody(FlowStageBindingRequest, body, { readOnly: BINDING_READ_ONLY });
        const out = await inTransaction(ctx, async (trx) => {
          const row = await createBinding(trx, input);
          await auditModel(ctx, trx, actor, meta, "model_created", bindingModel(row));
          return (await serializeBindings(trx, [row]))[0];
        });
        set.status = 201;
        return out;
      },
      op("create"),
    )
    .get(
      "/:uuid/",
      async ({ params }) =>
        (await serializeBindings(ctx.store.db, [await getBinding(ctx.store.db, uuidOr404(params.uuid))]))[0],
      op("retrieve"),
    )
    .put(
      "/:uuid/",
      ({ actor, meta, params, body }) => update({ actor, meta, key: params.uuid, body }, false),
      op("update"),
    )
    .patch(
      "/:uuid/",
      ({ actor, meta, params, body }) => update({ actor, meta, key: params.uuid, body }, true),
      op("partial_update"),
    )
    .delete(
      "/:uuid/",
      async ({ actor, meta, params }) => {
        await inTransaction(ctx, async (trx) => {
          const row = await deleteBinding(trx, uuidOr404(params.uuid));
          await auditModel(ctx, trx, actor, meta, "model_deleted", bindingModel(row));
        });
        return noContent();
      },
      op("destroy"),
    );
}
