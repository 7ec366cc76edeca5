/** What every provider kind shares: the summary shape (authentik's Provider) and its application. */
import type { Selectable } from "kysely";
import { forbidden } from "../../../shared/errors.ts";
import type { AfterCommit } from "../api/crud.ts";
import { type Paginated, pageRequest, paginate } from "../api/pagination.ts";
import type { Actor } from "../auth/actor.ts";
import type { CoreContext, Db } from "../context.ts";
import { outpostOfUser } from "../outposts/service.ts";
import type { ProvidersTable } from "../store/database.ts";

export type ProviderRow = Selectable<ProvidersTable>;

export const PROVIDER_KINDS = {
  ldap: { verbose: "LDAP Provider", app: "authentik_providers_ldap", model: "ldapprovider" },
  radius: { verbose: "Radius Provider", app: "authentik_providers_radius", model: "radiusprovider" },
  proxy: { verbose: "Proxy Provider", app: "authentik_providers_proxy", model: "proxyprovider" },
  oauth2: { verbose: "OAuth2/OpenID Provider", app: "authentik_providers_oauth2", model: "oauth2provider" },
} as const;
export type ProviderKind = keyof typeof PROVIDER_KINDS;

/** Output fields every provider kind has and no request may set. */
export const PROVIDER_READ_ONLY = [
  "pk",
  "component",
  "assigned_application_slug",
  "assigned_application_name",
  "assigned_backchannel_application_slug",
  "assigned_backchannel_application_name",
  "verbose_name",
  "verbose_name_plural",
  "meta_model_name",
] as const;

/** Provider kinds that are OAuth2 clients of the core (a proxy provider is one, as in authentik). */
export const OAUTH2_CLIENT_KINDS: ProviderKind[] = ["oauth2", "proxy"];

export function providerModelName(kind: string): string {
  const k = PROVIDER_KINDS[kind as ProviderKind];
  return k ? `${k.app}.${k.model}` : kind;
}

/** The applications using these providers directly, and as backchannel. */
export async function assignedApplications(db: Db, ids: number[]) {
  if (ids.length === 0)
    return {
      direct: new Map<number, { slug: string; name: string }>(),
      backchannel: new Map<number, { slug: string; name: string }>(),
    };
  const [direct, back] = await Promise.all([
    db.selectFrom("applications").select(["provider", "slug", "name"]).where("provider", "in", ids).execute(),
    db
      .selectFrom("application_backchannel_providers as b")
      .innerJoin("applications as a", "a.app_uuid", "b.app_uuid")
      .select(["b.provider", "a.slug", "a.name"])
      .where("b.provider", "in", ids)
      .execute(),
  ]);
  return {
    direct: new Map(direct.map((a) => [a.provider as number, { slug: a.slug, name: a.name }])),
    backchannel: new Map(back.map((a) => [a.provider, { slug: a.slug, name: a.name }])),
  };
}

export async function summarizeProviders(db: Db, rows: ProviderRow[]) {
  const apps = await assignedApplications(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((row) => {
    const kind = PROVIDER_KINDS[row.kind as ProviderKind];
    return {
      pk: row.id,
      name: row.name,
      authentication_flow: null,
      authorization_flow: row.authorization_flow,
      invalidation_flow: row.invalidation_flow,
      property_mappings: [],
      component: `ak-provider-${row.kind}-form`,
      assigned_application_slug: apps.direct.get(row.id)?.slug ?? null,
      assigned_application_name: apps.direct.get(row.id)?.name ?? null,
      assigned_backchannel_application_slug: apps.backchannel.get(row.id)?.slug ?? null,
      assigned_backchannel_application_name: apps.backchannel.get(row.id)?.name ?? null,
      verbose_name: kind?.verbose ?? row.kind,
      verbose_name_plural: `${kind?.verbose ?? row.kind}s`,
      meta_model_name: providerModelName(row.kind),
    };
  });
}

/**
 * The checks every provider kind makes: a unique name, and flows that exist. Field errors are added to
 * `fields` (the caller adds its own and throws once).
 */
export async function checkProviderBasics(
  db: Db,
  input: {
    name?: string;
    authorization_flow?: string;
    invalidation_flow?: string;
    authentication_flow?: string | null;
  },
  fields: Record<string, string[]>,
  except?: number,
): Promise<void> {
  if (input.name !== undefined) {
    let q = db.selectFrom("providers").select("id").where("name", "=", input.name);
    if (except !== undefined) q = q.where("id", "!=", except);
    if (await q.executeTakeFirst()) fields.name = ["Provider with this name already exists."];
  }
  for (const field of ["authorization_flow", "invalidation_flow", "authentication_flow"] as const) {
    const id = input[field];
    if (
      id &&
      !(await db.selectFrom("flows").select("flow_uuid").where("flow_uuid", "=", id).executeTakeFirst())
    )
      fields[field] = [`Invalid pk "${id}" - object does not exist.`];
  }
}

/** Tells every outpost serving this provider to refresh, once the change has committed. */
export async function notifyProviderOutposts(
  ctx: CoreContext,
  db: Db,
  id: number,
  afterCommit: AfterCommit,
): Promise<void> {
  const rows = await db
    .selectFrom("outpost_providers")
    .select("outpost_uuid")
    .where("provider_id", "=", id)
    .execute();
  afterCommit(() => {
    for (const r of rows) ctx.signals.emit({ kind: "outpost_changed", outpost: r.outpost_uuid });
  });
}

/** The providers of a kind an outpost token may see: those of its own outpost (superusers: all). */
export async function outpostProviders(
  ctx: CoreContext,
  actor: Actor,
  kind: ProviderKind,
): Promise<ProviderRow[]> {
  let q = ctx.store.db.selectFrom("providers").selectAll().where("kind", "=", kind);
  if (!actor.superuser) {
    const outpost = await outpostOfUser(ctx.store.db, actor.user.id);
    if (!outpost) throw forbidden("PV0010NotAnOutpost");
    q = q.where("id", "in", (eb) =>
      eb
        .selectFrom("outpost_providers")
        .select("provider_id")
        .where("outpost_uuid", "=", outpost.outpost_uuid),
    );
  }
  return q.orderBy("id").execute();
}

type AssignedApplications = Awaited<ReturnType<typeof assignedApplications>>;

/**
 * /api/v3/outposts/<kind>/: the providers of a kind the caller's outpost serves, each as the kind's
 * outpost configuration, paginated.
 */
export async function servedProviderConfigs(
  ctx: CoreContext,
  actor: Actor,
  kind: ProviderKind,
  search: URLSearchParams,
  configOf: (row: ProviderRow, apps: AssignedApplications) => Promise<unknown>,
): Promise<Paginated<unknown>> {
  const rows = await outpostProviders(ctx, actor, kind);
  const apps = await assignedApplications(
    ctx.store.db,
    rows.map((r) => r.id),
  );
  const results = await Promise.all(rows.map((row) => configOf(row, apps)));
  const page = pageRequest(search);
  return paginate(results.slice(page.offset, page.offset + page.pageSize), results.length, page);
}

/** A flow's slug by its uuid (null for none or an unknown one). */
export async function flowSlug(db: Db, uuid: string | null): Promise<string | null> {
  if (!uuid) return null;
  return (
    (await db.selectFrom("flows").select("slug").where("flow_uuid", "=", uuid).executeTakeFirst())?.slug ??
    null
  );
}
