/** Prompt fields: what a prompt stage asks for, in order. */
import type { Selectable } from "kysely";
import { notFound, validationError } from "../../../shared/errors.ts";
import { type PageRequest, type Paginated, paginate } from "../api/pagination.ts";
import { orderingParam } from "../api/query.ts";
import type { CoreContext, Db } from "../context.ts";
import { toBool } from "../store/codec.ts";
import type { PromptsTable } from "../store/database.ts";
import { containsText } from "../store/search.ts";
import type { PromptRequest } from "./model.ts";

export type PromptRow = Selectable<PromptsTable>;

export function serializePrompt(row: PromptRow) {
  return {
    pk: row.prompt_uuid,
    name: row.name,
    field_key: row.field_key,
    label: row.label,
    type: row.type,
    required: toBool(row.required),
    placeholder: row.placeholder,
    initial_value: row.initial_value,
    order: row.order,
    prompt_stages_obj: [],
    sub_text: row.sub_text,
    placeholder_expression: false,
    initial_value_expression: false,
  };
}

export async function listPrompts(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
): Promise<Paginated<unknown>> {
  let q = ctx.store.db.selectFrom("prompts");
  for (const field of ["name", "field_key", "label", "type"] as const) {
    const v = params.get(field);
    if (v !== null) q = q.where(field, "=", v);
  }
  const search = params.get("search");
  if (search)
    q = q.where((eb) =>
      eb.or([
        containsText(ctx.store.kind, "name", search),
        containsText(ctx.store.kind, "field_key", search),
      ]),
    );
  const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  let rows = q.selectAll();
  for (const o of orderingParam(params, { name: "name", order: "order", field_key: "field_key" } as const, [
    { column: "name", direction: "asc" },
  ])) {
    rows = rows.orderBy(o.column, o.direction);
  }
  const found = await rows.limit(page.pageSize).offset(page.offset).execute();
  return paginate(found.map(serializePrompt), Number(count), page);
}

export async function getPrompt(db: Db, uuid: string): Promise<PromptRow> {
  const row = await db.selectFrom("prompts").selectAll().where("prompt_uuid", "=", uuid).executeTakeFirst();
  if (!row) throw notFound("PR0001PromptNotFound", "No Prompt matches the given query.");
  return row;
}

async function checkName(db: Db, name: string, except?: string): Promise<void> {
  let q = db.selectFrom("prompts").select("prompt_uuid").where("name", "=", name);
  if (except) q = q.where("prompt_uuid", "!=", except);
  if (await q.executeTakeFirst())
    throw validationError("PR0002NameTaken", { name: ["Prompt with this name already exists."] });
}

export async function createPrompt(db: Db, input: PromptRequest): Promise<PromptRow> {
  await checkName(db, input.name);
  return db
    .insertInto("prompts")
    .values({
      prompt_uuid: crypto.randomUUID(),
      name: input.name,
      field_key: input.field_key,
      label: input.label,
      type: input.type,
      required: input.required ?? true,
      placeholder: input.placeholder ?? "",
      initial_value: input.initial_value ?? "",
      order: input.order ?? 0,
      sub_text: input.sub_text ?? "",
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updatePrompt(db: Db, uuid: string, input: Partial<PromptRequest>): Promise<PromptRow> {
  await getPrompt(db, uuid);
  if (input.name !== undefined) await checkName(db, input.name, uuid);
  const { placeholder_expression: _p, initial_value_expression: _i, ...rest } = input;
  return db
    .updateTable("prompts")
    .set(rest)
    .where("prompt_uuid", "=", uuid)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deletePrompt(db: Db, uuid: string): Promise<PromptRow> {
  const row = await getPrompt(db, uuid);
  await db.deleteFrom("prompts").where("prompt_uuid", "=", uuid).execute();
  return row;
}
