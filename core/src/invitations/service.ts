/** Invitations: a link (`?itoken=<uuid>`) into an enrollment flow, with data the flow starts from. */
import { type Static, Type as t } from "@sinclair/typebox";
import type { Selectable } from "kysely";
import { notFound, validationError } from "../../../shared/errors.ts";
import { type PageRequest, type Paginated, paginate } from "../api/pagination.ts";
import { orderingParam } from "../api/query.ts";
import type { CoreContext, Db } from "../context.ts";
import { serializeFlows } from "../flows/service.ts";
import { asJson, fromJson, toBool, toIsoOrNull } from "../store/codec.ts";
import type { InvitationsTable } from "../store/database.ts";
import { containsText } from "../store/search.ts";
import { partialUser } from "../users/serialize.ts";

export type InvitationRow = Selectable<InvitationsTable>;

export const InvitationRequest = t.Object({
  name: t.String({ minLength: 1, maxLength: 200, pattern: "^[-a-zA-Z0-9_]+$" }),
  expires: t.Optional(t.Union([t.String({ format: "date-time" }), t.Null()])),
  fixed_data: t.Optional(t.Record(t.String(), t.Unknown())),
  single_use: t.Optional(t.Boolean()),
  flow: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
});
export type InvitationRequest = Static<typeof InvitationRequest>;
export const INVITATION_READ_ONLY = ["pk", "created_by", "flow_obj"] as const;

export async function serializeInvitation(ctx: CoreContext, db: Db, row: InvitationRow) {
  const creator =
    row.created_by === null
      ? undefined
      : await db.selectFrom("users").selectAll().where("id", "=", row.created_by).executeTakeFirst();
  const flow =
    row.flow === null
      ? undefined
      : await db.selectFrom("flows").selectAll().where("flow_uuid", "=", row.flow).executeTakeFirst();
  return {
    pk: row.invite_uuid,
    name: row.name,
    expires: toIsoOrNull(row.expires),
    fixed_data: fromJson(row.fixed_data),
    created_by: creator ? partialUser(ctx.installId, creator) : null,
    single_use: toBool(row.single_use),
    flow: row.flow,
    flow_obj: flow ? (await serializeFlows(db, [flow]))[0] : null,
  };
}

export async function listInvitations(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
): Promise<Paginated<unknown>> {
  let q = ctx.store.db.selectFrom("invitations");
  const name = params.get("name");
  if (name !== null) q = q.where("name", "=", name);
  const search = params.get("search");
  if (search) q = q.where(containsText(ctx.store.kind, "name", search));
  const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  let rows = q.selectAll();
  for (const o of orderingParam(params, { name: "name", expires: "expires" } as const, [
    { column: "name", direction: "asc" },
  ])) {
    rows = rows.orderBy(o.column, o.direction);
  }
  const found = await rows.limit(page.pageSize).offset(page.offset).execute();
  return paginate(
    await Promise.all(found.map((r) => serializeInvitation(ctx, ctx.store.db, r))),
    Number(count),
    page,
  );
}

export async function getInvitation(db: Db, uuid: string): Promise<InvitationRow> {
  const row = await db
    .selectFrom("invitations")
    .selectAll()
    .where("invite_uuid", "=", uuid)
    .executeTakeFirst();
  if (!row) throw notFound("IN0001InvitationNotFound", "No Invitation matches the given query.");
  return row;
}

async function check(db: Db, input: Partial<InvitationRequest>, except?: string): Promise<void> {
  const fields: Record<string, string[]> = {};
  if (input.name !== undefined) {
    let q = db.selectFrom("invitations").select("invite_uuid").where("name", "=", input.name);
    if (except) q = q.where("invite_uuid", "!=", except);
    if (await q.executeTakeFirst()) fields.name = ["Invitation with this name already exists."];
  }
  if (
    input.flow &&
    !(await db.selectFrom("flows").select("flow_uuid").where("flow_uuid", "=", input.flow).executeTakeFirst())
  ) {
    fields.flow = [`Invalid pk "${input.flow}" - object does not exist.`];
  }
  if (Object.keys(fields).length > 0) throw validationError("IN0002InvalidInvitation", fields);
}

export async function createInvitation(
  ctx: CoreContext,
  db: Db,
  input: InvitationRequest,
  createdBy: number | null,
): Promise<InvitationRow> {
  await check(db, input);
  return db
    .insertInto("invitations")
    .values({
      invite_uuid: crypto.randomUUID(),
      name: input.name,
      expires: input.expires ?? null,
      fixed_data: asJson(input.fixed_data ?? {}),
      single_use: input.single_use ?? false,
      flow: input.flow ?? null,
      created_by: createdBy,
      created: ctx.clock().toISOString(),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateInvitation(
  db: Db,
  uuid: string,
  input: Partial<InvitationRequest>,
): Promise<InvitationRow> {
  await getInvitation(db, uuid);
  await check(db, input, uuid);
  const { fixed_data, ...rest } = input;
  return db
    .updateTable("invitations")
    .set({ ...rest, ...(fixed_data !== undefined && { fixed_data: asJson(fixed_data) }) })
    .where("invite_uuid", "=", uuid)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteInvitation(db: Db, uuid: string): Promise<InvitationRow> {
  const row = await getInvitation(db, uuid);
  await db.deleteFrom("invitations").where("invite_uuid", "=", uuid).execute();
  return row;
}
