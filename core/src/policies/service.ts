/** Policies of every kind (settings as JSON) and policy bindings on flows and flow-stage bindings. */
import { type TObject, Type as t } from "@sinclair/typebox";
import type { Selectable } from "kysely";
import { notFound, validationError } from "../../../shared/errors.ts";
import { type PageRequest, type Paginated, paginate } from "../api/pagination.ts";
import { boolParam, listParam, orderingParam } from "../api/query.ts";
import type { CoreContext, Db } from "../context.ts";
import type { PolicyBindingRequest } from "../flows/model.ts";
import { describeKind } from "../stages/service.ts";
import { asJson, fromJson, toBool } from "../store/codec.ts";
import type { PoliciesTable, PolicyBindingsTable } from "../store/database.ts";
import { containsText } from "../store/search.ts";
import { partialGroup, partialUser } from "../users/serialize.ts";
import { POLICY_KINDS, policyKind } from "./kinds.ts";
import type { PolicyKind } from "./types.ts";

export type PolicyRow = Selectable<PoliciesTable>;
export type PolicyBindingRow = Selectable<PolicyBindingsTable>;

export const POLICY_READ_ONLY = [
  "pk",
  "component",
  "verbose_name",
  "verbose_name_plural",
  "meta_model_name",
  "bound_to",
] as const;

export function policyRequestSchema(kind: PolicyKind): TObject {
  return t.Object({
    name: t.String({ minLength: 1, maxLength: 300 }),
    execution_logging: t.Optional(t.Boolean()),
    ...kind.config.properties,
  });
}

export async function serializePolicies(db: Db, rows: PolicyRow[]) {
  if (rows.length === 0) return [];
  const counts = await db
    .selectFrom("policy_bindings")
    .select(["policy", (eb) => eb.fn.countAll<number>().as("n")])
    .where(
      "policy",
      "in",
      rows.map((r) => r.policy_uuid),
    )
    .groupBy("policy")
    .execute();
  return rows.map((row) => {
    const kind = policyKind(row.kind);
    return {
      pk: row.policy_uuid,
      name: row.name,
      execution_logging: toBool(row.execution_logging),
      ...(kind
        ? describeKind(kind, "authentik_policies")
        : {
            component: "",
            verbose_name: row.kind,
            verbose_name_plural: row.kind,
            meta_model_name: row.kind,
          }),
      bound_to: Number(counts.find((c) => c.policy === row.policy_uuid)?.n ?? 0),
      ...kind?.defaults,
      ...fromJson<Record<string, unknown>>(row.config),
    };
  });
}

export async function listPolicies(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
  kind?: PolicyKind,
): Promise<Paginated<unknown>> {
  let q = ctx.store.db.selectFrom("policies");
  if (kind) q = q.where("kind", "=", kind.model);
  const name = params.get("name");
  if (name !== null) q = q.where("name", "=", name);
  const search = params.get("search");
  if (search) q = q.where(containsText(ctx.store.kind, "name", search));
  const unbound = boolParam(params, "bindings__isnull");
  if (unbound !== undefined) {
    const bound = ctx.store.db.selectFrom("policy_bindings").select("policy").where("policy", "is not", null);
    q = unbound
      ? q.where("policy_uuid", "not in", bound.$narrowType<{ policy: string }>())
      : q.where("policy_uuid", "in", bound.$narrowType<{ policy: string }>());
  }
  const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  let rows = q.selectAll();
  for (const o of orderingParam(params, { name: "name" } as const, [{ column: "name", direction: "asc" }])) {
    rows = rows.orderBy(o.column, o.direction);
  }
  const found = await rows.limit(page.pageSize).offset(page.offset).execute();
  return paginate(await serializePolicies(ctx.store.db, found), Number(count), page);
}

export async function getPolicy(db: Db, uuid: string, kind?: PolicyKind): Promise<PolicyRow> {
  let q = db.selectFrom("policies").selectAll().where("policy_uuid", "=", uuid);
  if (kind) q = q.where("kind", "=", kind.model);
  const row = await q.executeTakeFirst();
  if (!row) throw notFound("PO0001PolicyNotFound", "No Policy matches the given query.");
  return row;
}

async function checkName(db: Db, name: string, except?: string): Promise<void> {
  let q = db.selectFrom("policies").select("policy_uuid").where("name", "=", name);
  if (except) q = q.where("policy_uuid", "!=", except);
  if (await q.executeTakeFirst())
    throw validationError("PO0002NameTaken", { name: ["Policy with this name already exists."] });
}

/** `input` is already checked against policyRequestSchema(kind). */
export async function createPolicy(
  db: Db,
  kind: PolicyKind,
  input: Record<string, unknown>,
): Promise<PolicyRow> {
  const { name, execution_logging, ...config } = input;
  await checkName(db, name as string);
  await kind.validate?.(config);
  return db
    .insertInto("policies")
    .values({
      policy_uuid: crypto.randomUUID(),
      name: name as string,
      kind: kind.model,
      execution_logging: Boolean(execution_logging),
      config: asJson({ ...kind.defaults, ...config }),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Fields not given keep their current values (as Django REST framework does, for PUT too). */
export async function updatePolicy(
  db: Db,
  kind: PolicyKind,
  uuid: string,
  input: Record<string, unknown>,
): Promise<PolicyRow> {
  const current = await getPolicy(db, uuid, kind);
  const { name, execution_logging, ...config } = input;
  if (name !== undefined) await checkName(db, name as string, uuid);
  await kind.validate?.(config);
  return db
    .updateTable("policies")
    .set({
      ...(name !== undefined && { name: name as string }),
      ...(execution_logging !== undefined && { execution_logging: Boolean(execution_logging) }),
      config: asJson({ ...kind.defaults, ...fromJson<Record<string, unknown>>(current.config), ...config }),
    })
    .where("policy_uuid", "=", uuid)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deletePolicy(db: Db, uuid: string, kind?: PolicyKind): Promise<PolicyRow> {
  const row = await getPolicy(db, uuid, kind);
  await db.deleteFrom("policies").where("policy_uuid", "=", uuid).execute();
  return row;
}

export function policyTypes() {
  return POLICY_KINDS.map((k) => ({
    name: k.verboseName,
    description: k.verboseName,
    component: k.component,
    model_name: k.model,
  }));
}

// Bindings

export async function serializeBindings(ctx: CoreContext, db: Db, rows: PolicyBindingRow[]) {
  const policyIds = rows.flatMap((r) => (r.policy ? [r.policy] : []));
  const groupIds = rows.flatMap((r) => (r.group_id !== null ? [r.group_id] : []));
  const userIds = rows.flatMap((r) => (r.user_id !== null ? [r.user_id] : []));
  const [policies, groups, users] = await Promise.all([
    policyIds.length
      ? db.selectFrom("policies").selectAll().where("policy_uuid", "in", policyIds).execute()
      : [],
    groupIds.length ? db.selectFrom("groups").selectAll().where("num_pk", "in", groupIds).execute() : [],
    userIds.length ? db.selectFrom("users").selectAll().where("id", "in", userIds).execute() : [],
  ]);
  const policyOut = new Map((await serializePolicies(db, policies)).map((p) => [p.pk, p]));
  return rows.map((r) => {
    const group = groups.find((g) => g.num_pk === r.group_id);
    const user = users.find((u) => u.id === r.user_id);
    return {
      pk: r.policy_binding_uuid,
      policy: r.policy,
      group: group?.group_uuid ?? null,
      user: r.user_id,
      policy_obj: r.policy ? policyOut.get(r.policy) : null,
      group_obj: group ? partialGroup(group) : null,
      user_obj: user ? partialUser(ctx.installId, user) : null,
      target: r.target,
      negate: toBool(r.negate),
      enabled: toBool(r.enabled),
      order: r.order,
      timeout: r.timeout,
      failure_result: toBool(r.failure_result),
    };
  });
}

export async function listBindings(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
): Promise<Paginated<unknown>> {
  let q = ctx.store.db.selectFrom("policy_bindings");
  const target = params.get("target");
  if (target !== null) q = q.where("target", "=", target);
  const targetIn = listParam(params, "target_in");
  if (targetIn.length > 0) q = q.where("target", "in", targetIn);
  const policy = params.get("policy");
  if (policy !== null) q = q.where("policy", "=", policy);
  const enabled = boolParam(params, "enabled");
  if (enabled !== undefined) q = q.where("enabled", "=", enabled);
  const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  let rows = q.selectAll();
  for (const o of orderingParam(params, { order: "order", target: "target", timeout: "timeout" } as const, [
    { column: "target", direction: "asc" },
    { column: "order", direction: "asc" },
  ])) {
    rows = rows.orderBy(o.column, o.direction);
  }
  const found = await rows.orderBy("policy_binding_uuid").limit(page.pageSize).offset(page.offset).execute();
  return paginate(await serializeBindings(ctx, ctx.store.db, found), Number(count), page);
}

export async function getBinding(db: Db, uuid: string): Promise<PolicyBindingRow> {
  const row = await db
    .selectFrom("policy_bindings")
    .selectAll()
    .where("policy_binding_uuid", "=", uuid)
    .executeTakeFirst();
  if (!row) throw notFound("PO0010BindingNotFound", "No Policy Binding matches the given query.");
  return row;
}

/** A binding target: a flow, a flow-stage binding or an application. */
async function targetExists(db: Db, uuid: string): Promise<boolean> {
  const flow = await db
    .selectFrom("flows")
    .select("flow_uuid")
    .where("flow_uuid", "=", uuid)
    .executeTakeFirst();
  if (flow) return true;
  if (await db.selectFrom("applications").select("app_uuid").where("app_uuid", "=", uuid).executeTakeFirst())
    return true;
  return Boolean(
    await db
      .selectFrom("flow_stage_bindings")
      .select("fsb_uuid")
      .where("fsb_uuid", "=", uuid)
      .executeTakeFirst(),
  );
}

async function resolveBinding(db: Db, input: PolicyBindingRequest) {
  const fields: Record<string, string[]> = {};
  const chosen = [input.policy, input.group, input.user].filter((v) => v !== undefined && v !== null).length;
  if (chosen !== 1) fields.non_field_errors = ["Only one of 'policy', 'group' or 'user' can be set."];
  if (!(await targetExists(db, input.target)))
    fields.target = [`Invalid pk "${input.target}" - object does not exist.`];
  let groupId: number | null = null;
  if (
    input.policy &&
    !(await db
      .selectFrom("policies")
      .select("policy_uuid")
      .where("policy_uuid", "=", input.policy)
      .executeTakeFirst())
  ) {
    fields.policy = [`Invalid pk "${input.policy}" - object does not exist.`];
  }
  if (input.group) {
    const g = await db
      .selectFrom("groups")
      .select("num_pk")
      .where("group_uuid", "=", input.group)
      .executeTakeFirst();
    if (g) groupId = g.num_pk;
    else fields.group = [`Invalid pk "${input.group}" - object does not exist.`];
  }
  if (
    input.user &&
    !(await db.selectFrom("users").select("id").where("id", "=", input.user).executeTakeFirst())
  ) {
    fields.user = [`Invalid pk "${input.user}" - object does not exist.`];
  }
  if (Object.keys(fields).length > 0) throw validationError("PO0011InvalidBinding", fields);
  return { policy: input.policy ?? null, group_id: groupId, user_id: input.user ?? null };
}

export async function createBinding(db: Db, input: PolicyBindingRequest): Promise<PolicyBindingRow> {
  const refs = await resolveBinding(db, input);
  return db
    .insertInto("policy_bindings")
    .values({
      policy_binding_uuid: crypto.randomUUID(),
      target: input.target,
      ...refs,
      negate: input.negate ?? false,
      enabled: input.enabled ?? true,
      order: input.order,
      timeout: input.timeout ?? 30,
      failure_result: input.failure_result ?? false,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateBinding(
  db: Db,
  uuid: string,
  input: Partial<PolicyBindingRequest>,
): Promise<PolicyBindingRow> {
  const current = await getBinding(db, uuid);
  const group =
    current.group_id === null
      ? null
      : await db
          .selectFrom("groups")
          .select("group_uuid")
          .where("num_pk", "=", current.group_id)
          .executeTakeFirst();
  const merged: PolicyBindingRequest = {
    target: current.target,
    order: current.order,
    policy: current.policy,
    group: group?.group_uuid ?? null,
    user: current.user_id,
    ...input,
  };
  const refs = await resolveBinding(db, merged);
  return db
    .updateTable("policy_bindings")
    .set({
      target: merged.target,
      ...refs,
      order: merged.order,
      ...(input.negate !== undefined && { negate: input.negate }),
      ...(input.enabled !== undefined && { enabled: input.enabled }),
      ...(input.timeout !== undefined && { timeout: input.timeout }),
      ...(input.failure_result !== undefined && { failure_result: input.failure_result }),
    })
    .where("policy_binding_uuid", "=", uuid)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteBinding(db: Db, uuid: string): Promise<PolicyBindingRow> {
  const row = await getBinding(db, uuid);
  await db.deleteFrom("policy_bindings").where("policy_binding_uuid", "=", uuid).execute();
  return row;
}
