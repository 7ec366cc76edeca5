/**
 * RADIUS property mappings (/api/v3/propertymappings/provider/radius/): named CEL expressions returning
 * the attributes to add to an Access-Accept (see radius-attributes.ts). Changing one tells the outposts
 * of the providers using it to refresh (their cached accepts carry the old attributes).
 */
import { type Static, Type as t } from "@sinclair/typebox";
import { validationError } from "../../../shared/errors.ts";
import { type AfterCommit, crudRoutes } from "../api/crud.ts";
import { type PageRequest, type Paginated, paginate } from "../api/pagination.ts";
import type { CoreContext, Db } from "../context.ts";
import { compileExpression, MAX_EXPRESSION_LENGTH } from "../policies/expression.ts";
import { containsText } from "../store/search.ts";
import { notifyProviderOutposts } from "./base.ts";
import { type MappingRow, mappingKind, mappingTaken } from "./mappings.ts";
import { radiusSettings } from "./radius.ts";

export const RadiusMappingRequest = t.Object({
  name: t.String({ minLength: 1, maxLength: 300 }),
  expression: t.String({ minLength: 1, maxLength: MAX_EXPRESSION_LENGTH }),
});
export type RadiusMappingRequest = Static<typeof RadiusMappingRequest>;

const serialize = (row: MappingRow) => ({
  pk: row.pm_uuid,
  managed: row.managed,
  name: row.name,
  expression: row.expression,
  component: "ak-property-mapping-provider-radius-form",
  verbose_name: "Radius Provider Property Mapping",
  verbose_name_plural: "Radius Provider Property Mappings",
  meta_model_name: "authentik_providers_radius.radiusproviderpropertymapping",
});

async function list(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
): Promise<Paginated<unknown>> {
  let q = ctx.store.db.selectFrom("property_mappings").where("kind", "=", "radius");
  const name = params.get("name");
  if (name) q = q.where("name", "=", name);
  const search = params.get("search");
  if (search) q = q.where(containsText(ctx.store.kind, "name", search));
  const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  const rows = await q.selectAll().orderBy("name").limit(page.pageSize).offset(page.offset).execute();
  return paginate(rows.map(serialize), Number(count), page);
}

const { get, key: uuidKey } = mappingKind("radius", "RM", "Radius Provider Property Mapping");

async function check(db: Db, input: Partial<RadiusMappingRequest>, except?: string): Promise<void> {
  if (input.expression !== undefined) await compileExpression(input.expression);
  if (input.name !== undefined && (await mappingTaken(db, "name", input.name, except)))
    throw validationError("RM0002NameTaken", { name: ["Property Mapping with this name already exists."] });
}

/** Outposts serving a provider that uses this mapping refresh once the change has committed. */
async function notify(ctx: CoreContext, db: Db, uuid: string, afterCommit: AfterCommit): Promise<void> {
  const providers = await db.selectFrom("providers").selectAll().where("kind", "=", "radius").execute();
  // The mapping's uuid in the provider's settings (config is text on SQLite, an object on PostgreSQL).
  for (const p of providers)
    if (radiusSettings(p).property_mappings.includes(uuid))
      await notifyProviderOutposts(ctx, db, p.id, afterCommit);
}

export function radiusMappingsController(ctx: CoreContext) {
  return crudRoutes(ctx, {
    prefix: "/propertymappings/provider/radius",
    tag: "propertymappings",
    operation: "propertymappings_provider_radius",
    schema: RadiusMappingRequest,
    readOnly: ["pk", "managed", "component", "verbose_name", "verbose_name_plural", "meta_model_name"],
    key: uuidKey,
    list,
    get,
    async create(db, input) {
      await check(db, input);
      return db
        .insertInto("property_mappings")
        .values({
          pm_uuid: crypto.randomUUID(),
          name: input.name,
          kind: "radius",
          expression: input.expression,
          managed: null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    },
    async update(db, key, input, afterCommit) {
      await get(db, key);
      await check(db, input, key);
      await notify(ctx, db, key, afterCommit);
      return db
        .updateTable("property_mappings")
        .set({
          ...(input.name !== undefined && { name: input.name }),
          ...(input.expression !== undefined && { expression: input.expression }),
        })
        .where("pm_uuid", "=", key)
        .returningAll()
        .executeTakeFirstOrThrow();
    },
    async remove(db, key, afterCommit) {
      const row = await get(db, key);
      await notify(ctx, db, key, afterCommit);
      await db.deleteFrom("property_mappings").where("pm_uuid", "=", key).execute();
      return row;
    },
    serialize: (_db, row) => serialize(row),
    model: (row) => ({ name: "radiusproviderpropertymapping", pk: row.pm_uuid, label: row.name }),
  });
}
