/**
 * /api/v3/providers/<kind>/ for every provider kind: one row in `providers` with the kind's settings in
 * its JSON `config`. A kind supplies its schema, its settings (with defaults), what a new provider
 * starts with (defaults and generated secrets) and its own checks; this does list, retrieve, create,
 * update and delete, and — for kinds outposts serve — `outpost_set` and TRIGGER_UPDATE on change.
 */
import type { Static, TObject } from "@sinclair/typebox";
import { notFound } from "../../../shared/errors.ts";
import { type AfterCommit, crudRoutes } from "../api/crud.ts";
import { type PageRequest, type Paginated, paginate } from "../api/pagination.ts";
import { orderingParam } from "../api/query.ts";
import type { CoreContext, Db } from "../context.ts";
import { oauth2Changed } from "../oauth2/cache.ts";
import { asJson } from "../store/codec.ts";
import { containsText } from "../store/search.ts";
import {
  notifyProviderOutposts,
  PROVIDER_KINDS,
  type ProviderKind,
  type ProviderRow,
  summarizeProviders,
} from "./base.ts";

export interface ProviderKindSpec<S extends TObject> {
  kind: ProviderKind;
  /** Prefix of the kind's error codes ("LP" → LP0001ProviderNotFound). */
  code: string;
  schema: S;
  readOnly: readonly string[];
  /** The settings shown in the API, with the kind's defaults filled in. */
  settings(row: ProviderRow): object;
  /** Everything kept in `config` (when it holds more than is shown, e.g. secrets); `settings` if absent. */
  stored?(row: ProviderRow): object;
  /** Derives what the kind maintains itself (e.g. a proxy's redirect URIs) before a write. */
  finalize?(db: Db, config: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** The request fields kept in `config`. */
  settingKeys: readonly (keyof Static<S> & string)[];
  /** What a new provider's `config` starts with before the request's settings (defaults, secrets). */
  initial(): Record<string, unknown>;
  /** The kind's own checks; throws a 400 naming the fields. `except` is the provider being updated. */
  check(db: Db, input: Partial<Static<S>>, except?: number): Promise<void>;
  /** Outposts serve this kind: `outpost_set` in the output, and they hear of every change. */
  servedByOutposts: boolean;
  /** List filters on settings (exact match), e.g. OAuth2's `client_id`. */
  settingFilters?: readonly string[];
}

const notFoundMessage = (kind: ProviderKind) => `No ${PROVIDER_KINDS[kind].verbose} matches the given query.`;

/** A provider of this kind by id, or the kind's 404. */
export function providerGetter(kind: ProviderKind, code: string) {
  return async (db: Db, id: number): Promise<ProviderRow> => {
    const row = await db
      .selectFrom("providers")
      .selectAll()
      .where("id", "=", id)
      .where("kind", "=", kind)
      .executeTakeFirst();
    if (!row) throw notFound(`${code}0001ProviderNotFound`, notFoundMessage(kind));
    return row;
  };
}

/** The path's provider id (digits), or the kind's 404. */
export function providerIdKey(kind: ProviderKind, code: string) {
  return (raw: string): string => {
    if (!/^\d{1,10}$/.test(raw)) throw notFound(`${code}0003BadId`, notFoundMessage(kind));
    return raw;
  };
}

export function providerCrudRoutes<S extends TObject>(ctx: CoreContext, spec: ProviderKindSpec<S>) {
  const get = providerGetter(spec.kind, spec.code);
  const settingsOf = (input: Partial<Static<S>>) =>
    Object.fromEntries(
      spec.settingKeys.flatMap((k) => (input[k] === undefined ? [] : [[k, input[k as keyof typeof input]]])),
    );

  const serialize = async (db: Db, rows: ProviderRow[]) => {
    const summaries = await summarizeProviders(db, rows);
    const outposts =
      spec.servedByOutposts && rows.length
        ? await db
            .selectFrom("outpost_providers as l")
            .innerJoin("outposts as o", "o.outpost_uuid", "l.outpost_uuid")
            .select(["l.provider_id", "o.name"])
            .where(
              "l.provider_id",
              "in",
              rows.map((r) => r.id),
            )
            .execute()
        : [];
    return rows.map((row, i) => ({
      ...summaries[i],
      ...spec.settings(row),
      ...(spec.servedByOutposts && {
        outpost_set: outposts.filter((o) => o.provider_id === row.id).map((o) => o.name),
      }),
    }));
  };

  const list = async (
    c: CoreContext,
    params: URLSearchParams,
    page: PageRequest,
  ): Promise<Paginated<unknown>> => {
    let q = c.store.db.selectFrom("providers").where("kind", "=", spec.kind);
    const name = params.get("name__iexact") ?? params.get("name");
    if (name) q = q.where("name", "=", name);
    const search = params.get("search");
    if (search) q = q.where(containsText(c.store.kind, "name", search));
    let rows = q.selectAll();
    for (const o of orderingParam(params, { name: "name", pk: "id" } as const, [
      { column: "name", direction: "asc" },
    ]))
      rows = rows.orderBy(o.column, o.direction);
    const filters = (spec.settingFilters ?? []).flatMap((f) => {
      const value = params.get(f);
      return value ? [[f, value] as const] : [];
    });
    if (filters.length === 0) {
      const { count } = await q
        .select((eb) => eb.fn.countAll<number>().as("count"))
        .executeTakeFirstOrThrow();
      const found = await rows.limit(page.pageSize).offset(page.offset).execute();
      return paginate(await serialize(c.store.db, found), Number(count), page);
    }
    // Settings live in the JSON config: those filters run here (a kind has few providers).
    const matching = (await rows.execute()).filter((r) => {
      const s = spec.settings(r) as Record<string, unknown>;
      return filters.every(([f, value]) => s[f] === value);
    });
    const found = matching.slice(page.offset, page.offset + page.pageSize);
    return paginate(await serialize(c.store.db, found), matching.length, page);
  };

  /**
   * OAuth2 clients and their documents are kept in memory (oauth2/cache.ts), proxy providers' too: a
   * committed change to any provider drops them (providers change rarely).
   */
  const oauth2Touched = (afterCommit: AfterCommit) => afterCommit(() => oauth2Changed(ctx));

  return crudRoutes(ctx, {
    prefix: `/providers/${spec.kind}`,
    tag: "providers",
    operation: `providers_${spec.kind}`,
    schema: spec.schema,
    readOnly: spec.readOnly,
    key: providerIdKey(spec.kind, spec.code),
    list,
    get: (db, key) => get(db, Number(key)),
    async create(db, input, _actor, afterCommit) {
      oauth2Touched(afterCommit);
      let config: Record<string, unknown> = { ...spec.initial(), ...settingsOf(input) };
      await spec.check(db, { ...config, ...input } as Partial<Static<S>>);
      if (spec.finalize) config = await spec.finalize(db, config);
      return db
        .insertInto("providers")
        .values({
          name: input.name as string,
          kind: spec.kind,
          authorization_flow: input.authorization_flow as string,
          invalidation_flow: input.invalidation_flow as string,
          config: asJson(config),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    },
    async update(db, key, input, afterCommit) {
      const current = await get(db, Number(key));
      oauth2Touched(afterCommit);
      await spec.check(db, input, current.id);
      if (spec.servedByOutposts) await notifyProviderOutposts(ctx, db, current.id, afterCommit);
      let config: Record<string, unknown> = {
        ...(spec.stored ?? spec.settings)(current),
        ...settingsOf(input),
      };
      if (spec.finalize) config = await spec.finalize(db, config);
      return db
        .updateTable("providers")
        .set({
          ...(input.name !== undefined && { name: input.name as string }),
          ...(input.authorization_flow !== undefined && {
            authorization_flow: input.authorization_flow as string,
          }),
          ...(input.invalidation_flow !== undefined && {
            invalidation_flow: input.invalidation_flow as string,
          }),
          config: asJson(config),
        })
        .where("id", "=", current.id)
        .returningAll()
        .executeTakeFirstOrThrow();
    },
    async remove(db, key, afterCommit) {
      const row = await get(db, Number(key));
      oauth2Touched(afterCommit);
      if (spec.servedByOutposts) await notifyProviderOutposts(ctx, db, row.id, afterCommit);
      await db.deleteFrom("providers").where("id", "=", row.id).execute();
      return row;
    },
    serialize: async (db, row) => (await serialize(db, [row]))[0],
    model: (row) => ({ name: PROVIDER_KINDS[spec.kind].model, pk: row.id, label: row.name }),
  });
}
