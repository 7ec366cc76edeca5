/** /api/v3/policies/all/, /policies/<type>/ and /policies/bindings/. */
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
import { POLICY_BINDING_READ_ONLY, PolicyBindingRequest } from "../flows/model.ts";
import { POLICY_KINDS } from "./kinds.ts";
import {
  createBinding,
  createPolicy,
  deleteBinding,
  deletePolicy,
  getBinding,
  getPolicy,
  listBindings,
  listPolicies,
  type PolicyBindingRow,
  type PolicyRow,
  policyTypes,
  serializeBindings,
  serializePolicies,
  updateBinding,
  updatePolicy,
} from "./service.ts";
import type { PolicyKind } from "./types.ts";

const policyModel = (row: PolicyRow) => ({ name: row.kind, pk: row.policy_uuid, label: row.name });
const bindingModel = (row: PolicyBindingRow) => ({
  name: "policybinding",
  pk: row.policy_binding_uuid,
  label: row.target,
});

function uuidOr404(raw: string): string {
  if (!isUuid(raw)) throw notFound("PO0020BadUuid", "Not found.");
  return raw.toLowerCase();
}

export function policiesController(ctx: CoreContext) {
  const app = new Elysia({ prefix: "/policies" })
    .use(authenticated(ctx))
    .onBeforeHandle(({ actor }) => requireSuperuser(actor))
    .get("/all/", ({ search }) => listPolicies(ctx, search, pageRequest(search)), {
      detail: { tags: ["policies"], operationId: "policies_all_list" },
    })
    .get("/all/types/", () => policyTypes(), {
      detail: { tags: ["policies"], operationId: "policies_all_types_list" },
    })
    .get(
      "/all/:uuid/",
      async ({ params }) =>
        (await serializePolicies(ctx.store.db, [await getPolicy(ctx.store.db, uuidOr404(params.uuid))]))[0],
    )
    .delete("/all/:uuid/", async ({ actor, meta, params }) => {
      await inTransaction(ctx, async (trx) => {
        const row = await deletePolicy(trx, uuidOr404(params.uuid));
        await auditModel(ctx, trx, actor, meta, "model_deleted", policyModel(row));
      });
      return noContent();
    })
    .use(bindingRoutes(ctx));
  for (const kind of POLICY_KINDS) app.use(kindRoutes(ctx, kind));
  return app;
}

function bindingRoutes(ctx: CoreContext) {
  const one = async (row: PolicyBindingRow) => (await serializeBindings(ctx, ctx.store.db, [row]))[0];
  const update = (req: { actor: Actor; meta: RequestMeta; uuid: string; body: unknown }, partial: boolean) =>
    inTransaction(ctx, async (trx) => {
      const input = parseBody(PolicyBindingRequest, req.body, {
        readOnly: POLICY_BINDING_READ_ONLY,
        partial,
      });
      const row = await updateBinding(trx, uuidOr404(req.uuid), input);
      await auditModel(ctx, trx, req.actor, req.meta, "model_updated", bindingModel(row));
      return (await serializeBindings(ctx, trx, [row]))[0];
    });
  const op = (verb: string) => ({ detail: { tags: ["policies"], operationId: `policies_bindings_${verb}` } });
  return new Elysia({ prefix: "/bindings" })
    .use(authenticated(ctx))
    .onBeforeHandle(({ actor }) => requireSuperuser(actor))
    .get("/", ({ search }) => listBindings(ctx, search, pageRequest(search)), op("list"))
    .post(
      "/",
      async ({ actor, meta, body, set }) => {
        const input = parseBody(PolicyBindingRequest, body, { readOnly: POLICY_BINDING_READ_ONLY });
        const out = await inTransaction(ctx, async (trx) => {
          const row = await createBinding(trx, input);
          await auditModel(ctx, trx, actor, meta, "model_created", bindingModel(row));
          return (await serializeBindings(ctx, trx, [row]))[0];
        });
        set.status = 201;
        return out;
      },
      op("create"),
    )
    .get(
      "/:uuid/",
      async ({ params }) => one(await getBinding(ctx.store.db, uuidOr404(params.uuid))),
      op("retrieve"),
    )
    .put(
      "/:uuid/",
      ({ actor, meta, params, body }) => update({ actor, meta, uuid: params.uuid, body }, false),
      op("update"),
    )
    .patch(
      "/:uuid/",
      ({ actor, meta, params, body }) => update({ actor, meta, uuid: params.uuid, body }, true),
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

function kindRoutes(ctx: CoreContext, kind: PolicyKind) {
  const op = (verb: string) => ({
    detail: { tags: ["policies"], operationId: `policies_${kind.apiName}_${verb}` },
  });
  const update = (req: { actor: Actor; meta: RequestMeta; uuid: string; body: unknown }, partial: boolean) =>
    inTransaction(ctx, async (trx) => {
      const row = await updatePolicy(trx, kind, uuidOr404(req.uuid), req.body, partial);
      await auditModel(ctx, trx, req.actor, req.meta, "model_updated", policyModel(row));
      return (await serializePolicies(trx, [row]))[0];
    });
  return new Elysia({ prefix: `/${kind.apiName}` })
    .use(authenticated(ctx))
    .onBeforeHandle(({ actor }) => requireSuperuser(actor))
    .get("/", ({ search }) => listPolicies(ctx, search, pageRequest(search), kind), op("list"))
    .post(
      "/",
      async ({ actor, meta, body, set }) => {
        const out = await inTransaction(ctx, async (trx) => {
          const row = await createPolicy(trx, kind, body);
          await auditModel(ctx, trx, actor, meta, "model_created", policyModel(row));
          return (await serializePolicies(trx, [row]))[0];
        });
        set.status = 201;
        return out;
      },
      op("create"),
    )
    .get(
      "/:uuid/",
      async ({ params }) =>
        (
          await serializePolicies(ctx.store.db, [await getPolicy(ctx.store.db, uuidOr404(params.uuid), kind)])
        )[0],
      op("retrieve"),
    )
    .put(
      "/:uuid/",
      ({ actor, meta, params, body }) => update({ actor, meta, uuid: params.uuid, body }, false),
      op("update"),
    )
    .patch(
      "/:uuid/",
      ({ actor, meta, params, body }) => update({ actor, meta, uuid: params.uuid, body }, true),
      op("partial_update"),
    )
    .delete(
      "/:uuid/",
      async ({ actor, meta, params }) => {
        await inTransaction(ctx, async (trx) => {
          const row = await deletePolicy(trx, uuidOr404(params.uuid), kind);
          await auditModel(ctx, trx, actor, meta, "model_deleted", policyModel(row));
        });
        return noContent();
      },
      op("destroy"),
    );
}
