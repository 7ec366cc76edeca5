/**
 * OAuth2 scope mappings (/api/v3/propertymappings/provider/scope/): named CEL expressions that, for a
 * granted scope, return the claims it adds (for the userinfo endpoint and, when asked, the ID token).
 * authentik's managed defaults — openid, email, profile, offline_access, entitlements, the API scope
 * and the proxy outpost's ak_proxy — are made at start and come back if deleted.
 */
import { type Static, Type as t } from "@sinclair/typebox";
import { validationError } from "../../../shared/errors.ts";
import { crudRoutes } from "../api/crud.ts";
import { type PageRequest, type Paginated, paginate } from "../api/pagination.ts";
import { boolParam, orderingParam } from "../api/query.ts";
import type { CoreContext, Db } from "../context.ts";
import { oauth2Changed } from "../oauth2/cache.ts";
import { compileExpression, MAX_EXPRESSION_LENGTH } from "../policies/expression.ts";
import { containsText } from "../store/search.ts";
import { type MappingRow, mappingKind, mappingTaken } from "./mappings.ts";

export const ScopeMappingRequest = t.Object({
  managed: t.Optional(t.Union([t.String({ minLength: 1 }), t.Null()])),
  name: t.String({ minLength: 1, maxLength: 300 }),
  expression: t.String({ minLength: 1, maxLength: MAX_EXPRESSION_LENGTH }),
  scope_name: t.String({ minLength: 1, maxLength: 255 }),
  description: t.Optional(t.String({ maxLength: 2000 })),
});
export type ScopeMappingRequest = Static<typeof ScopeMappingRequest>;

const READ_ONLY = ["pk", "component", "verbose_name", "verbose_name_plural", "meta_model_name"];

const serialize = (row: MappingRow) => ({
  pk: row.pm_uuid,
  managed: row.managed,
  name: row.name,
  expression: row.expression,
  component: "ak-property-mapping-provider-scope-form",
  verbose_name: "Scope Mapping",
  verbose_name_plural: "Scope Mappings",
  meta_model_name: "authentik_providers_oauth2.scopemapping",
  scope_name: row.scope_name ?? "",
  description: row.description,
});

/** authentik's managed scope mappings, with CEL for its Python. `user` is the signed-in user. */
export const DEFAULT_SCOPE_MAPPINGS = [
  {
    managed: "goauthentik.io/providers/oauth2/scope-openid",
    name: "authentik default OAuth Mapping: OpenID 'openid'",
    scope_name: "openid",
    description: "",
    // `sub`, `iss`, `aud` and the times come from the provider itself.
    expression: "{}",
  },
  {
    managed: "goauthentik.io/providers/oauth2/scope-email",
    name: "authentik default OAuth Mapping: OpenID 'email'",
    scope_name: "email",
    description: "Email address",
    expression: '{"email": user.email, "email_verified": true}',
  },
  {
    managed: "goauthentik.io/providers/oauth2/scope-profile",
    name: "authentik default OAuth Mapping: OpenID 'profile'",
    scope_name: "profile",
    description: "General Profile Information",
    expression:
      '{"name": user.name, "given_name": user.name, "preferred_username": user.username, "nickname": user.username, "groups": user.groups}',
  },
  {
    managed: "goauthentik.io/providers/oauth2/scope-offline_access",
    name: "authentik default OAuth Mapping: OpenID 'offline_access'",
    scope_name: "offline_access",
    description: "Access to request new tokens without interaction",
    expression: "{}",
  },
  {
    managed: "goauthentik.io/providers/oauth2/scope-entitlements",
    name: "authentik default OAuth Mapping: Application Entitlements",
    scope_name: "entitlements",
    description: "Application entitlements",
    // Entitlements are not modelled yet: the claim is there, empty.
    expression: '{"entitlements": [], "roles": []}',
  },
  {
    managed: "goauthentik.io/providers/oauth2/scope-authentik_api",
    name: "authentik default OAuth Mapping: authentik API access",
    scope_name: "goauthentik.io/api",
    description: "authentik API Access on behalf of your user",
    expression: "{}",
  },
  {
    managed: "goauthentik.io/providers/proxy/scope-proxy",
    name: "authentik default OAuth Mapping: Proxy outpost",
    scope_name: "ak_proxy",
    description: "authentik Proxy - User information",
    expression: '{"ak_proxy": {"user_attributes": user.attributes, "is_superuser": user.is_superuser}}',
  },
] as const;

/** Makes the managed scope mappings exist, as shipped (an edited one is put back). */
export async function ensureDefaultScopeMappings(ctx: CoreContext): Promise<void> {
  await ctx.store.db.transaction().execute(async (trx) => {
    for (const m of DEFAULT_SCOPE_MAPPINGS) {
      const existing = await trx
        .selectFrom("property_mappings")
        .select("pm_uuid")
        .where("managed", "=", m.managed)
        .executeTakeFirst();
      if (existing) {
        await trx
          .updateTable("property_mappings")
          .set({ expression: m.expression, scope_name: m.scope_name })
          .where("pm_uuid", "=", existing.pm_uuid)
          .execute();
        continue;
      }
      const nameTaken = await trx
        .selectFrom("property_mappings")
        .select("pm_uuid")
        .where("name", "=", m.name)
        .executeTakeFirst();
      await trx
        .insertInto("property_mappings")
        .values({
          pm_uuid: crypto.randomUUID(),
          name: nameTaken ? `${m.name} (managed)` : m.name,
          kind: "scope",
          expression: m.expression,
          managed: m.managed,
          scope_name: m.scope_name,
          description: m.description,
        })
        .execute();
    }
  });
}

const ORDERING = { name: "name", scope_name: "scope_name", managed: "managed" } as const;

async function list(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
): Promise<Paginated<unknown>> {
  let q = ctx.store.db.selectFrom("property_mappings").where("kind", "=", "scope");
  const name = params.get("name");
  if (name) q = q.where("name", "=", name);
  const scope = params.get("scope_name");
  if (scope) q = q.where("scope_name", "=", scope);
  for (const managed of params.getAll("managed")) if (managed) q = q.where("managed", "=", managed);
  const isNull = boolParam(params, "managed__isnull");
  if (isNull !== undefined) q = q.where("managed", isNull ? "is" : "is not", null);
  const search = params.get("search");
  if (search) q = q.where(containsText(ctx.store.kind, "name", search));
  const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  let rows = q.selectAll();
  for (const o of orderingParam(params, ORDERING, [{ column: "name", direction: "asc" }]))
    rows = rows.orderBy(o.column, o.direction);
  const found = await rows.orderBy("pm_uuid").limit(page.pageSize).offset(page.offset).execute();
  return paginate(found.map(serialize), Number(count), page);
}

const { get, key: uuidKey } = mappingKind("scope", "SM", "Scope Mapping");

async function check(db: Db, input: Partial<ScopeMappingRequest>, except?: string): Promise<void> {
  if (input.expression !== undefined) await compileExpression(input.expression);
  const fields: Record<string, string[]> = {};
  if (input.name !== undefined && (await mappingTaken(db, "name", input.name, except)))
    fields.name = ["Property Mapping with this name already exists."];
  if (input.managed && (await mappingTaken(db, "managed", input.managed, except)))
    fields.managed = ["Property Mapping with this managed already exists."];
  if (Object.keys(fields).length > 0) throw validationError("SM0002Invalid", fields);
}

export function scopeMappingsController(ctx: CoreContext) {
  return crudRoutes(ctx, {
    prefix: "/propertymappings/provider/scope",
    tag: "propertymappings",
    operation: "propertymappings_provider_scope",
    schema: ScopeMappingRequest,
    readOnly: READ_ONLY,
    key: uuidKey,
    list,
    get,
    async create(db, input, _actor, afterCommit) {
      await check(db, input);
      afterCommit(() => oauth2Changed(ctx));
      return db
        .insertInto("property_mappings")
        .values({
          pm_uuid: crypto.randomUUID(),
          name: input.name,
          kind: "scope",
          expression: input.expression,
          managed: input.managed ?? null,
          scope_name: input.scope_name,
          description: input.description ?? "",
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    },
    async update(db, key, input, afterCommit) {
      await get(db, key);
      await check(db, input, key);
      afterCommit(() => oauth2Changed(ctx));
      return db
        .updateTable("property_mappings")
        .set({
          ...(input.name !== undefined && { name: input.name }),
          ...(input.expression !== undefined && { expression: input.expression }),
          ...(input.scope_name !== undefined && { scope_name: input.scope_name }),
          ...(input.description !== undefined && { description: input.description }),
          ...(input.managed !== undefined && { managed: input.managed }),
        })
        .where("pm_uuid", "=", key)
        .returningAll()
        .executeTakeFirstOrThrow();
    },
    async remove(db, key, afterCommit) {
      const row = await get(db, key);
      afterCommit(() => oauth2Changed(ctx));
      await db.deleteFrom("property_mappings").where("pm_uuid", "=", key).execute();
      return row;
    },
    serialize: (_db, row) => serialize(row),
    model: (row) => ({ name: "scopemapping", pk: row.pm_uuid, label: row.name }),
  });
}
