/** /api/v3/flows/instances/ (by slug) and /api/v3/flows/bindings/. */
import { notFound } from "../../../shared/errors.ts";
import { crudRoutes } from "../api/crud.ts";
import type { CoreContext } from "../context.ts";
import { BINDING_READ_ONLY, FLOW_READ_ONLY, FlowRequest, FlowStageBindingRequest } from "./model.ts";
import {
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

function slugKey(raw: string): string {
  if (!/^[-a-zA-Z0-9_]{1,50}$/.test(raw))
    throw notFound("FL0020FlowNotFound", "No Flow matches the given query.");
  return raw;
}

export function flowsController(ctx: CoreContext) {
  return crudRoutes(ctx, {
    prefix: "/flows/instances",
    tag: "flows",
    operation: "flows_instances",
    schema: FlowRequest,
    readOnly: FLOW_READ_ONLY,
    key: slugKey,
    list: listFlows,
    get: getFlow,
    create: (db, input) => createFlow(db, input),
    update: updateFlow,
    remove: deleteFlow,
    serialize: async (db, row) => (await serializeFlows(db, [row]))[0],
    model: (row) => ({ name: "flow", pk: row.flow_uuid, label: row.slug }),
  });
}

export function flowBindingsController(ctx: CoreContext) {
  return crudRoutes(ctx, {
    prefix: "/flows/bindings",
    tag: "flows",
    operation: "flows_bindings",
    schema: FlowStageBindingRequest,
    readOnly: BINDING_READ_ONLY,
    list: listBindings,
    get: getBinding,
    create: (db, input) => createBinding(db, input),
    update: updateBinding,
    remove: deleteBinding,
    serialize: async (db, row) => (await serializeBindings(db, [row]))[0],
    model: (row) => ({ name: "flowstagebinding", pk: row.fsb_uuid, label: row.fsb_uuid }),
  });
}
