/** Stages of every kind: one table (settings as JSON), serialized in authentik's per-kind shape. */
import { type TObject, Type as t } from "@sinclair/typebox";
import type { Selectable } from "kysely";
import { notFound, validationError } from "../../../shared/errors.ts";
import { type PageRequest, type Paginated, paginate } from "../api/pagination.ts";
import { orderingParam } from "../api/query.ts";
import type { CoreContext, Db } from "../context.ts";
import { flowSet } from "../flows/service.ts";
import { asJson, fromJson } from "../store/codec.ts";
import type { StagesTable } from "../store/database.ts";
import { containsText } from "../store/search.ts";
import { STAGE_KINDS, stageKind } from "./kinds.ts";
import type { StageKind } from "./types.ts";

export type StageRow = Selectable<StagesTable>;

export const STAGE_READ_ONLY = [
  "pk",
  "component",
  "verbose_name",
  "verbose_name_plural",
  "meta_model_name",
  "flow_set",
] as const;

export function stageRequestSchema(kind: StageKind): TObject {
  return t.Object({ name: t.String({ minLength: 1, maxLength: 300 }), ...kind.config.properties });
}

export function describeKind(
  kind: { model: string; apiName: string; verboseName: string; component: string },
  app: string,
) {
  return {
    component: kind.component,
    verbose_name: kind.verboseName,
    verbose_name_plural: `${kind.verboseName}s`,
    meta_model_name: `${app}_${kind.apiName.replaceAll("/", "_")}.${kind.model}`,
  };
}

export async function serializeStages(db: Db, rows: StageRow[]) {
  if (rows.length === 0) return [];
  const flows = await db
    .selectFrom("flow_stage_bindings as b")
    .innerJoin("flows as f", "f.flow_uuid", "b.target")
    .select("b.stage")
    .selectAll("f")
    .where(
      "b.stage",
      "in",
      rows.map((r) => r.stage_uuid),
    )
    .execute();
  return rows.map((row) => {
    const kind = stageKind(row.kind);
    return {
      pk: row.stage_uuid,
      name: row.name,
      ...(kind
        ? describeKind(kind, "authentik_stages")
        : {
            component: "",
            verbose_name: row.kind,
            verbose_name_plural: row.kind,
            meta_model_name: row.kind,
          }),
      flow_set: flows.filter((f) => f.stage === row.stage_uuid).map(({ stage: _s, ...f }) => flowSet(f)),
      ...withoutWriteOnly(kind, { ...kind?.defaults, ...fromJson<Record<string, unknown>>(row.config) }),
    };
  });
}

function withoutWriteOnly(
  kind: StageKind | undefined,
  config: Record<string, unknown>,
): Record<string, unknown> {
  for (const key of kind?.writeOnly ?? []) delete config[key];
  return config;
}

export async function listStages(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
  kind?: StageKind,
): Promise<Paginated<unknown>> {
  let q = ctx.store.db.selectFrom("stages");
  if (kind) q = q.where("kind", "=", kind.model);
  const name = params.get("name");
  if (name !== null) q = q.where("name", "=", name);
  const uuid = params.get("stage_uuid");
  if (uuid !== null) q = q.where("stage_uuid", "=", uuid);
  const search = params.get("search");
  if (search) q = q.where(containsText(ctx.store.kind, "name", search));
  const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  let rows = q.selectAll();
  for (const o of orderingParam(params, { name: "name" } as const, [{ column: "name", direction: "asc" }])) {
    rows = rows.orderBy(o.column, o.direction);
  }
  const found = await rows.limit(page.pageSize).offset(page.offset).execute();
  return paginate(await serializeStages(ctx.store.db, found), Number(count), page);
}

export async function getStage(db: Db, uuid: string, kind?: StageKind): Promise<StageRow> {
  let q = db.selectFrom("stages").selectAll().where("stage_uuid", "=", uuid);
  if (kind) q = q.where("kind", "=", kind.model);
  const row = await q.executeTakeFirst();
  if (!row) throw notFound("SG0001StageNotFound", "No Stage matches the given query.");
  return row;
}

async function checkName(db: Db, name: string, except?: string): Promise<void> {
  let q = db.selectFrom("stages").select("stage_uuid").where("name", "=", name);
  if (except) q = q.where("stage_uuid", "!=", except);
  if (await q.executeTakeFirst())
    throw validationError("SG0002NameTaken", { name: ["Stage with this name already exists."] });
}

/** `input` is already checked against stageRequestSchema(kind). */
export async function createStage(
  db: Db,
  kind: StageKind,
  input: Record<string, unknown>,
): Promise<StageRow> {
  const { name, ...config } = input;
  await checkName(db, name as string);
  return db
    .insertInto("stages")
    .values({
      stage_uuid: crypto.randomUUID(),
      name: name as string,
      kind: kind.model,
      config: asJson({ ...kind.defaults, ...config }),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Fields not given keep their current values (as Django REST framework does, for PUT too). */
export async function updateStage(
  db: Db,
  kind: StageKind,
  uuid: string,
  input: Record<string, unknown>,
): Promise<StageRow> {
  const current = await getStage(db, uuid, kind);
  const { name, ...config } = input;
  if (name !== undefined) await checkName(db, name as string, uuid);
  return db
    .updateTable("stages")
    .set({
      ...(name !== undefined && { name: name as string }),
      config: asJson({ ...kind.defaults, ...fromJson<Record<string, unknown>>(current.config), ...config }),
    })
    .where("stage_uuid", "=", uuid)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteStage(db: Db, uuid: string, kind?: StageKind): Promise<StageRow> {
  const row = await getStage(db, uuid, kind);
  const bindings = await db
    .selectFrom("flow_stage_bindings")
    .select("fsb_uuid")
    .where("stage", "=", uuid)
    .execute();
  if (bindings.length > 0) {
    await db
      .deleteFrom("policy_bindings")
      .where(
        "target",
        "in",
        bindings.map((b) => b.fsb_uuid),
      )
      .execute();
  }
  await db.deleteFrom("stages").where("stage_uuid", "=", uuid).execute();
  return row;
}

export function stageTypes() {
  return STAGE_KINDS.map((k) => ({
    name: k.verboseName,
    description: k.verboseName,
    component: k.component,
    model_name: k.model,
  }));
}
