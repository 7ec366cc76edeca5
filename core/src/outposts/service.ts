/**
 * Outposts and their identities: each outpost has an internal service account `ak-outpost-<hex>` and a
 * non-expiring API token `ak-outpost-<uuid>-api`, kept in line whenever the outpost is written.
 */
import type { Selectable } from "kysely";
import { notFound, validationError } from "../../../shared/errors.ts";
import { type PageRequest, type Paginated, paginate } from "../api/pagination.ts";
import { orderingParam } from "../api/query.ts";
import type { CoreContext, Db } from "../context.ts";
import { parseTimedelta } from "../flows/timedelta.ts";
import { asJson, fromJson } from "../store/codec.ts";
import type { OutpostsTable } from "../store/database.ts";
import { containsText } from "../store/search.ts";
import { createToken } from "../tokens/service.ts";
import { createUser } from "../users/service.ts";
import { DEFAULT_OUTPOST_CONFIG, type OutpostRequest } from "./model.ts";

export type OutpostRow = Selectable<OutpostsTable>;

export const serviceAccountName = (uuid: string) => `ak-outpost-${uuid.replaceAll("-", "")}`;
export const tokenIdentifier = (uuid: string) => `ak-outpost-${uuid}-api`;
export const OUTPOST_PATH = "goauthentik.io/outposts";

/** authentik clamps the refresh interval: ≤ 0 → 5 minutes, < 30 s → 30 s. */
export function refreshIntervalSeconds(config: Record<string, unknown>): number {
  const s = parseTimedelta(String(config.refresh_interval ?? DEFAULT_OUTPOST_CONFIG.refresh_interval)) ?? 0;
  if (s <= 0) return 300;
  return Math.max(30, Math.round(s));
}

export async function serializeOutpost(db: Db, row: OutpostRow) {
  const links = await db
    .selectFrom("outpost_providers as l")
    .innerJoin("providers as p", "p.id", "l.provider_id")
    .select(["p.id", "p.name", "p.kind", "p.authorization_flow", "p.invalidation_flow"])
    .where("l.outpost_uuid", "=", row.outpost_uuid)
    .orderBy("p.id")
    .execute();
  const config = { ...DEFAULT_OUTPOST_CONFIG, ...fromJson<Record<string, unknown>>(row.config) };
  return {
    pk: row.outpost_uuid,
    name: row.name,
    type: row.type,
    providers: links.map((l) => l.id),
    providers_obj: links.map((l) => ({
      pk: l.id,
      name: l.name,
      authorization_flow: l.authorization_flow,
      invalidation_flow: l.invalidation_flow,
      component: `ak-provider-${l.kind}-form`,
      meta_model_name: `authentik_providers_${l.kind}.${l.kind}provider`,
    })),
    service_connection: null,
    service_connection_obj: null,
    refresh_interval_s: refreshIntervalSeconds(config),
    token_identifier: tokenIdentifier(row.outpost_uuid),
    config,
    managed: row.managed,
  };
}

export async function listOutposts(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
  scope: { userId?: number } = {},
): Promise<Paginated<unknown>> {
  let q = ctx.store.db.selectFrom("outposts");
  if (scope.userId !== undefined) q = q.where("user_id", "=", scope.userId);
  const exact = params.get("name__iexact");
  if (exact !== null) q = q.where("name", "=", exact);
  const contains = params.get("name__icontains");
  if (contains) q = q.where(containsText(ctx.store.kind, "name", contains));
  const managed = params.get("managed__iexact");
  if (managed !== null) q = q.where("managed", "=", managed);
  const search = params.get("search");
  if (search) q = q.where(containsText(ctx.store.kind, "name", search));
  const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  let rows = q.selectAll();
  for (const o of orderingParam(params, { name: "name", type: "type" } as const, [
    { column: "name", direction: "asc" },
  ])) {
    rows = rows.orderBy(o.column, o.direction);
  }
  const found = await rows.limit(page.pageSize).offset(page.offset).execute();
  return paginate(
    await Promise.all(found.map((r) => serializeOutpost(ctx.store.db, r))),
    Number(count),
    page,
  );
}

export async function getOutpost(db: Db, uuid: string): Promise<OutpostRow> {
  const row = await db.selectFrom("outposts").selectAll().where("outpost_uuid", "=", uuid).executeTakeFirst();
  if (!row) throw notFound("OP0001OutpostNotFound", "No Outpost matches the given query.");
  return row;
}

/** The outpost whose service account this user is, if any. */
export async function outpostOfUser(db: Db, userId: number): Promise<OutpostRow | undefined> {
  return db.selectFrom("outposts").selectAll().where("user_id", "=", userId).executeTakeFirst();
}

async function check(db: Db, input: Partial<OutpostRequest>, type: string, except?: string): Promise<void> {
  const fields: Record<string, string[]> = {};
  if (input.name !== undefined) {
    let q = db.selectFrom("outposts").select("outpost_uuid").where("name", "=", input.name);
    if (except) q = q.where("outpost_uuid", "!=", except);
    if (await q.executeTakeFirst()) fields.name = ["Outpost with this name already exists."];
  }
  const ids = [...new Set(input.providers ?? [])];
  if (ids.length > 0) {
    const rows = await db.selectFrom("providers").select(["id", "kind"]).where("id", "in", ids).execute();
    const errors = ids.flatMap((id) => {
      const row = rows.find((r) => r.id === id);
      if (!row) return [`Invalid pk "${id}" - object does not exist.`];
      return row.kind === type
        ? []
        : [`Provider ${id} is a ${row.kind} provider; a ${type} outpost cannot serve it.`];
    });
    if (errors.length > 0) fields.providers = errors;
  }
  for (const key of Object.keys(input.config ?? {})) {
    if (!(key in DEFAULT_OUTPOST_CONFIG) && !/^(docker|kubernetes|container)_/.test(key)) {
      fields.config = [...(fields.config ?? []), `Unknown setting "${key}".`];
    }
  }
  if (
    input.config?.refresh_interval !== undefined &&
    parseTimedelta(String(input.config.refresh_interval)) === undefined
  ) {
    fields.config = [...(fields.config ?? []), 'refresh_interval must look like "minutes=5".'];
  }
  if (Object.keys(fields).length > 0) throw validationError("OP0002InvalidOutpost", fields);
}

async function setProviders(db: Db, uuid: string, providers: number[] | undefined): Promise<void> {
  if (providers === undefined) return;
  await db.deleteFrom("outpost_providers").where("outpost_uuid", "=", uuid).execute();
  const ids = [...new Set(providers)];
  if (ids.length > 0)
    await db
      .insertInto("outpost_providers")
      .values(ids.map((provider_id) => ({ outpost_uuid: uuid, provider_id })))
      .execute();
}

/** Makes sure the outpost's service account and API token exist (re-created if someone deleted them). */
export async function ensureOutpostIdentity(ctx: CoreContext, db: Db, row: OutpostRow): Promise<OutpostRow> {
  let userId = row.user_id;
  const user =
    userId === null
      ? undefined
      : await db.selectFrom("users").select("id").where("id", "=", userId).executeTakeFirst();
  if (!user) {
    const username = serviceAccountName(row.outpost_uuid);
    const existing = await db
      .selectFrom("users")
      .select("id")
      .where("username", "=", username)
      .executeTakeFirst();
    userId =
      existing?.id ??
      (
        await createUser(ctx, db, {
          username,
          name: `Outpost ${row.name} Service-Account`,
          type: "internal_service_account",
          path: OUTPOST_PATH,
        })
      ).id;
    await db
      .updateTable("outposts")
      .set({ user_id: userId })
      .where("outpost_uuid", "=", row.outpost_uuid)
      .execute();
  }
  const identifier = tokenIdentifier(row.outpost_uuid);
  const token = await db
    .selectFrom("tokens")
    .select(["user_id"])
    .where("identifier", "=", identifier)
    .executeTakeFirst();
  if (token && token.user_id !== userId)
    await db.deleteFrom("tokens").where("identifier", "=", identifier).execute();
  if (!token || token.user_id !== userId) {
    await createToken(ctx, db, {
      identifier,
      intent: "api",
      user: userId as number,
      expiring: false,
      managed: `goauthentik.io/outpost/${identifier}`,
      description: `Autogenerated by Gatehouse for Outpost ${row.name}`,
    });
  }
  return { ...row, user_id: userId };
}

export async function createOutpost(ctx: CoreContext, db: Db, input: OutpostRequest): Promise<OutpostRow> {
  await check(db, input, input.type);
  const row = await db
    .insertInto("outposts")
    .values({
      outpost_uuid: crypto.randomUUID(),
      name: input.name,
      type: input.type,
      config: asJson(input.config),
      managed: input.managed ?? null,
      user_id: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await setProviders(db, row.outpost_uuid, input.providers);
  return ensureOutpostIdentity(ctx, db, row);
}

export async function updateOutpost(
  ctx: CoreContext,
  db: Db,
  uuid: string,
  input: Partial<OutpostRequest>,
): Promise<OutpostRow> {
  const current = await getOutpost(db, uuid);
  await check(db, input, input.type ?? current.type, uuid);
  const { providers, config, service_connection: _s, ...rest } = input;
  const changes = { ...rest, ...(config !== undefined && { config: asJson(config) }) };
  // A PATCH of only `providers` changes no column of the outpost itself.
  const row =
    Object.keys(changes).length === 0
      ? current
      : await db
          .updateTable("outposts")
          .set(changes)
          .where("outpost_uuid", "=", uuid)
          .returningAll()
          .executeTakeFirstOrThrow();
  await setProviders(db, uuid, providers);
  return ensureOutpostIdentity(ctx, db, row);
}

/** Deletes the outpost with its service account and token, so its credentials stop working at once. */
export async function deleteOutpost(db: Db, uuid: string): Promise<OutpostRow> {
  const row = await getOutpost(db, uuid);
  await db.deleteFrom("outposts").where("outpost_uuid", "=", uuid).execute();
  if (row.user_id !== null) await db.deleteFrom("users").where("id", "=", row.user_id).execute();
  return row;
}

/**
 * LDAP outposts read the whole directory (authentik gives their service accounts view_user and
 * view_group); everyone else who is not a superuser sees only themselves.
 */
export async function readsDirectory(
  db: Db,
  actor: { superuser: boolean; user: { id: number } },
): Promise<boolean> {
  if (actor.superuser) return true;
  const outpost = await outpostOfUser(db, actor.user.id);
  return outpost?.type === "ldap";
}
