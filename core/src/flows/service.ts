/** Flows and flow-stage bindings: list, create, update, delete, serialized as authentik does. */
import type { Selectable } from "kysely";
import { notFound, validationError } from "../../../shared/errors.ts";
import { type PageRequest, type Paginated, paginate } from "../api/pagination.ts";
import { orderingParam } from "../api/query.ts";
import type { CoreContext, Db } from "../context.ts";
import { serializeStages } from "../stages/service.ts";
import type { FlowRow } from "../stages/types.ts";
import { toBool } from "../store/codec.ts";
import type { FlowStageBindingsTable } from "../store/database.ts";
import { containsText } from "../store/search.ts";
import type { FlowRequest, FlowStageBindingRequest } from "./model.ts";

export type BindingRow = Selectable<FlowStageBindingsTable>;

export function flowSet(row: FlowRow) {
  return {
    pk: row.flow_uuid,
    policybindingmodel_ptr_id: row.flow_uuid,
    name: row.name,
    slug: row.slug,
    title: row.title,
    designation: row.designation,
    background_url: row.background || "/static/dist/assets/images/flow_background.jpg",
    policy_engine_mode: row.policy_engine_mode,
    compatibility_mode: toBool(row.compatibility_mode),
    export_url: `/api/v3/flows/instances/${row.slug}/export/`,
    layout: row.layout,
    denied_action: row.denied_action,
  };
}

export async function serializeFlows(db: Db, rows: FlowRow[]) {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.flow_uuid);
  const [stages, policies] = await Promise.all([
    db
      .selectFrom("flow_stage_bindings")
      .select(["target", "stage"])
      .where("target", "in", ids)
      .orderBy("order")
      .execute(),
    db
      .selectFrom("policy_bindings")
      .select(["target", "policy_binding_uuid"])
      .where("target", "in", ids)
      .orderBy("order")
      .execute(),
  ]);
  return rows.map((row) => ({
    ...flowSet(row),
    background: row.background,
    background_themed_urls: null,
    stages: stages.filter((s) => s.target === row.flow_uuid).map((s) => s.stage),
    policies: policies.filter((p) => p.target === row.flow_uuid).map((p) => p.policy_binding_uuid),
    cache_count: 0,
    authentication: row.authentication,
  }));
}

const FLOW_ORDERING = { slug: "slug", name: "name", title: "title", designation: "designation" } as const;

export async function listFlows(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
): Promise<Paginated<unknown>> {
  let q = ctx.store.db.selectFrom("flows");
  for (const field of ["slug", "name", "designation", "denied_action", "flow_uuid"] as const) {
    const v = params.get(field);
    if (v !== null) q = q.where(field, "=", v);
  }
  const search = params.get("search");
  if (search) {
    q = q.where((eb) =>
      eb.or([
        containsText(ctx.store.kind, "name", search),
        containsText(ctx.store.kind, "slug", search),
        containsText(ctx.store.kind, "title", search),
      ]),
    );
  }
  const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  let rows = q.selectAll();
  for (const o of orderingParam(params, FLOW_ORDERING, [{ column: "slug", direction: "asc" }])) {
    rows = rows.orderBy(o.column, o.direction);
  }
  const found = await rows.limit(page.pageSize).offset(page.offset).execute();
  return paginate(await serializeFlows(ctx.store.db, found), Number(count), page);
}

export async function getFlow(db: Db, slug: string): Promise<FlowRow> {
  const row = await db.selectFrom("flows").selectAll().where("slug", "=", slug).executeTakeFirst();
  if (!row) throw notFound("FL0020FlowNotFound", "No Flow matches the given query.");
  return row;
}

async function checkSlug(db: Db, slug: string, except?: string): Promise<void> {
  let q = db.selectFrom("flows").select("flow_uuid").where("slug", "=", slug);
  if (except) q = q.where("flow_uuid", "!=", except);
  if (await q.executeTakeFirst())
    throw validationError("FL0021SlugTaken", { slug: ["Flow with this slug already exists."] });
}

export async function createFlow(db: Db, input: FlowRequest): Promise<FlowRow> {
  await checkSlug(db, input.slug);
  return db
    .insertInto("flows")
    .values({
      flow_uuid: crypto.randomUUID(),
      slug: input.slug,
      name: input.name,
      title: input.title,
      designation: input.designation,
      background: input.background ?? "",
      policy_engine_mode: input.policy_engine_mode ?? "any",
      compatibility_mode: input.compatibility_mode ?? false,
      layout: input.layout ?? "stacked",
      denied_action: input.denied_action ?? "message_continue",
      authentication: input.authentication ?? "none",
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateFlow(db: Db, slug: string, input: Partial<FlowRequest>): Promise<FlowRow> {
  const current = await getFlow(db, slug);
  if (input.slug !== undefined) await checkSlug(db, input.slug, current.flow_uuid);
  const { background, ...rest } = input;
  return db
    .updateTable("flows")
    .set({ ...rest, ...(background !== undefined && { background }) })
    .where("flow_uuid", "=", current.flow_uuid)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Deletes a flow, its stage bindings and every policy binding that targeted either. */
export async function deleteFlow(db: Db, slug: string): Promise<FlowRow> {
  const row = await getFlow(db, slug);
  const bindings = await db
    .selectFrom("flow_stage_bindings")
    .select("fsb_uuid")
    .where("target", "=", row.flow_uuid)
    .execute();
  const targets = [row.flow_uuid, ...bindings.map((b) => b.fsb_uuid)];
  await db.deleteFrom("policy_bindings").where("target", "in", targets).execute();
  await db.deleteFrom("flows").where("flow_uuid", "=", row.flow_uuid).execute();
  await db.deleteFrom("flow_states").where("flow_slug", "=", row.slug).execute();
  return row;
}

export async function serializeBindings(db: Db, rows: BindingRow[]) {
  const stageIds = [...new Set(rows.map((r) => r.stage))];
  const stageRows = stageIds.length
    ? await db.selectFrom("stages").selectAll().where("stage_uuid", "in", stageIds).execute()
    : [];
  const stages = new Map((await serializeStages(db, stageRows)).map((s) => [s.pk, s]));

  return rows.map((r) => ({
    pk: r.fsb_uuid,
    policybindingmodel_ptr_id: r.fsb_uuid,
    target: r.target,
    stage: r.stage,
    stage_obj: stages.get(r.stage),
    evaluate_on_plan: toBool(r.evaluate_on_plan),
    re_evaluate_policies: toBool(r.re_evaluate_policies),
    order: r.order,
    policy_engine_mode: r.policy_engine_mode,
    invalid_response_action: r.invalid_response_action,
  }));
}

export async function listBindings(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
): Promise<Paginated<unknown>> {
  let q = ctx.store.db.selectFrom("flow_stage_bindings");
  for (const field of [
    "target",
    "stage",
    "fsb_uuid",
    "policy_engine_mode",
    "invalid_response_action",
  ] as const) {
    const v = params.get(field);
    if (v !== null) q = q.where(field, "=", v);
  }
  const order = params.get("order");
  if (order !== null && /^-?\d+$/.test(order)) q = q.where("order", "=", Number(order));
  const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  let rows = q.selectAll();
  for (const o of orderingParam(params, { order: "order", target: "target" } as const, [
    { column: "order", direction: "asc" },
  ])) {
    rows = rows.orderBy(o.column, o.direction);
  }
  const found = await rows.orderBy("fsb_uuid").limit(page.pageSize).offset(page.offset).execute();
  return paginate(await serializeBindings(ctx.store.db, found), Number(count), page);
}

export async function getBinding(db: Db, uuid: string): Promise<BindingRow> {
  const row = await db
    .selectFrom("flow_stage_bindings")
    .selectAll()
    .where("fsb_uuid", "=", uuid)
    .executeTakeFirst();
  if (!row) throw notFound("FL0030BindingNotFound", "No Flow Stage Binding matches the given query.");
  return row;
}

async function checkBindingRefs(db: Db, input: Partial<FlowStageBindingRequest>): Promise<void> {
  const fields: Record<string, string[]> = {};
  if (
    input.target &&
    !(await db
      .selectFrom("flows")
      .select("flow_uuid")
      .where("flow_uuid", "=", input.target)
      .executeTakeFirst())
  ) {
    fields.target = [`Invalid pk "${input.target}" - object does not exist.`];
  }
  if (
    input.stage &&
    !(await db
      .selectFrom("stages")
      .select("stage_uuid")
      .where("stage_uuid", "=", input.stage)
      .executeTakeFirst())
  ) {
    fields.stage = [`Invalid pk "${input.stage}" - object does not exist.`];
  }
  if (Object.keys(fields).length > 0) throw validationError("FL0031BadReference", fields);
}

async function checkBindingUnique(
  db: Db,
  target: string,
  stage: string,
  order: number,
  except?: string,
): Promise<void> {
  let q = db
    .selectFrom("flow_stage_bindings")
    .select("fsb_uuid")
    .where("target", "=", target)
    .where("stage", "=", stage)
    .where("order", "=", order);
  if (except) q = q.where("fsb_uuid", "!=", except);
  if (await q.executeTakeFirst()) {
    throw validationError("FL0032DuplicateBinding", {
      non_field_errors: ["The fields target, stage, order must make a unique set."],
    });
  }
}

export async function createBinding(db: Db, input: FlowStageBindingRequest): Promise<BindingRow> {
  await checkBindingRefs(db, input);
  await checkBindingUnique(db, input.target, input.stage, input.order);
  return db
    .insertInto("flow_stage_bindings")
    .values({
      fsb_uuid: crypto.randomUUID(),
      target: input.target,
      stage: input.stage,
      order: input.order,
      evaluate_on_plan: input.evaluate_on_plan ?? false,
      re_evaluate_policies: input.re_evaluate_policies ?? true,
      policy_engine_mode: input.policy_engine_mode ?? "any",
      invalid_response_action: input.invalid_response_action ?? "retry",
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateBinding(
  db: Db,
  uuid: string,
  input: Partial<FlowStageBindingRequest>,
): Promise<BindingRow> {
  const current = await getBinding(db, uuid);
  await checkBindingRefs(db, input);
  await checkBindingUnique(
    db,
    input.target ?? current.target,
    input.stage ?? current.stage,
    input.order ?? current.order,
    uuid,
  );
  return db
    .updateTable("flow_stage_bindings")
    .set(input)
    .where("fsb_uuid", "=", uuid)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteBinding(db: Db, uuid: string): Promise<BindingRow> {
  const row = await getBinding(db, uuid);
  await db.deleteFrom("policy_bindings").where("target", "=", uuid).execute();
  await db.deleteFrom("flow_stage_bindings").where("fsb_uuid", "=", uuid).execute();
  return row;
}
