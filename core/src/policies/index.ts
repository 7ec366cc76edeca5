/** /api/v3/policies/all/, /policies/<type>/ and /policies/bindings/. */
import { Elysia } from "elysia";
import { auditModel } from "../api/audit.ts";
import { authenticated, noContent } from "../api/authenticated.ts";
import { crudRoutes, uuidKey } from "../api/crud.ts";
import { pageRequest } from "../api/pagination.ts";
import { requireSuperuser } from "../auth/actor.ts";
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
  POLICY_READ_ONLY,
  type PolicyRow,
  policyRequestSchema,
  policyTypes,
  serializeBindings,
  serializePolicies,
  updateBinding,
  updatePolicy,
} from "./service.ts";

const policyModel = (row: PolicyRow) => ({ name: row.kind, pk: row.policy_uuid, label: row.name });
const op = (operationId: string) => ({ detail: { tags: ["policies"], operationId } });

export function policiesController(ctx: CoreContext) {
  const app = new Elysia({ prefix: "/policies" })
    .use(authenticated(ctx))
    .onBeforeHandle(({ actor }) => requireSuperuser(actor))
    .get("/all/", ({ search }) => listPolicies(ctx, search, pageRequest(search)), op("policies_all_list"))
    .get("/all/types/", () => policyTypes(), op("policies_all_types_list"))
    .get(
      "/all/:uuid/",
      async ({ params }) =>
        (await serializePolicies(ctx.store.db, [await getPolicy(ctx.store.db, uuidKey(params.uuid))]))[0],
      op("policies_all_retrieve"),
    )
    .delete(
      "/all/:uuid/",
      async ({ actor, meta, params }) => {
        await inTransaction(ctx, async (trx) => {
          const row = await deletePolicy(trx, uuidKey(params.uuid));
          await auditModel(ctx, trx, actor, meta, "model_deleted", policyModel(row));
        });
        return noContent();
      },
      op("policies_all_destroy"),
    )
    .use(
      crudRoutes(ctx, {
        prefix: "/bindings",
        tag: "policies",
        operation: "policies_bindings",
        schema: PolicyBindingRequest,
        readOnly: POLICY_BINDING_READ_ONLY,
        list: listBindings,
        get: getBinding,
        create: (db, input) => createBinding(db, input),
        update: updateBinding,
        remove: deleteBinding,
        serialize: async (db, row) => (await serializeBindings(ctx, db, [row]))[0],
        model: (row) => ({ name: "policybinding", pk: row.policy_binding_uuid, label: row.target }),
      }),
    );
  for (const kind of POLICY_KINDS) {
    app.use(
      crudRoutes(ctx, {
        prefix: `/${kind.apiName}`,
        tag: "policies",
        operation: `policies_${kind.apiName}`,
        schema: policyRequestSchema(kind),
        readOnly: POLICY_READ_ONLY,
        list: (c, params, page) => listPolicies(c, params, page, kind),
        get: (db, key) => getPolicy(db, key, kind),
        create: (db, input) => createPolicy(db, kind, input),
        update: (db, key, input) => updatePolicy(db, kind, key, input),
        remove: (db, key) => deletePolicy(db, key, kind),
        serialize: async (db, row) => (await serializePolicies(db, [row]))[0],
        model: policyModel,
      }),
    );
  }
  return app;
}
