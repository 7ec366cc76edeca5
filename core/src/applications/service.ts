/**
 * Applications: a name, a slug, at most one provider (plus backchannel providers), launch details, and
 * the policies that decide who may open it — evaluated on every authorization and for the user's list.
 */
import { type Static, Type as t } from "@sinclair/typebox";
import type { Selectable } from "kysely";
import { notFound, validationError } from "../../../shared/errors.ts";
import { type PageRequest, type Paginated, paginate } from "../api/pagination.ts";
import { boolParam, orderingParam } from "../api/query.ts";
import type { RequestMeta } from "../api/request.ts";
import type { CoreContext, Db } from "../context.ts";
import { evaluateTarget, type PolicyEngineMode } from "../policies/engine.ts";
import type { PolicyRequest, PolicyResult } from "../policies/types.ts";
import { type ProviderRow, summarizeProviders } from "../providers/base.ts";
import { fromJson, toBool } from "../store/codec.ts";
import type { ApplicationsTable } from "../store/database.ts";
import { containsText } from "../store/search.ts";
import type { UserRow } from "../users/serialize.ts";

export type ApplicationRow = Selectable<ApplicationsTable>;

export const ApplicationRequest = t.Object({
  name: t.String({ minLength: 1, maxLength: 300 }),
  slug: t.String({ minLength: 1, maxLength: 50, pattern: "^[-a-zA-Z0-9_]+$" }),
  provider: t.Optional(t.Union([t.Integer({ minimum: 1 }), t.Null()])),
  backchannel_providers: t.Optional(t.Array(t.Integer({ minimum: 1 }), { maxItems: 100 })),
  open_in_new_tab: t.Optional(t.Boolean()),
  meta_launch_url: t.Optional(t.String({ maxLength: 2000, pattern: "^(|https?://.*|/.*)$" })),
  meta_icon: t.Optional(t.String({ maxLength: 2000 })),
  meta_description: t.Optional(t.String({ maxLength: 5000 })),
  meta_publisher: t.Optional(t.String({ maxLength: 300 })),
  policy_engine_mode: t.Optional(t.Union([t.Literal("all"), t.Literal("any")])),
  group: t.Optional(t.String({ maxLength: 300 })),
});
export type ApplicationRequest = Static<typeof ApplicationRequest>;
export const APPLICATION_READ_ONLY = [
  "pk",
  "provider_obj",
  "backchannel_providers_obj",
  "launch_url",
  "meta_icon_url",
  "meta_icon_themed_urls",
] as const;

export async function serializeApplications(db: Db, rows: ApplicationRow[]) {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.app_uuid);
  const back = await db
    .selectFrom("application_backchannel_providers")
    .selectAll()
    .where("app_uuid", "in", ids)
    .execute();
  const providerIds = [
    ...new Set([
      ...rows.flatMap((r) => (r.provider === null ? [] : [r.provider])),
      ...back.map((b) => b.provider),
    ]),
  ];
  const providers = providerIds.length
    ? await db.selectFrom("providers").selectAll().where("id", "in", providerIds).execute()
    : [];
  const summaries = new Map((await summarizeProviders(db, providers)).map((p) => [p.pk, p]));
  return rows.map((row) => {
    const backchannel = back.filter((b) => b.app_uuid === row.app_uuid).map((b) => b.provider);
    return {
      pk: row.app_uuid,
      name: row.name,
      slug: row.slug,
      provider: row.provider,
      provider_obj: row.provider === null ? null : (summaries.get(row.provider) ?? null),
      backchannel_providers: backchannel,
      backchannel_providers_obj: backchannel.flatMap((id) => summaries.get(id) ?? []),
      launch_url:
        row.meta_launch_url ||
        launchUrlOf(row.provider === null ? undefined : providers.find((p) => p.id === row.provider)),
      open_in_new_tab: toBool(row.open_in_new_tab),
      meta_launch_url: row.meta_launch_url,
      meta_icon: row.meta_icon,
      meta_icon_url: row.meta_icon || null,
      meta_icon_themed_urls: null,
      meta_description: row.meta_description,
      meta_publisher: row.meta_publisher,
      policy_engine_mode: row.policy_engine_mode,
      group: row.group,
    };
  });
}

/**
 * authentik's launch URL when the application sets none: a proxy provider's external host, or the
 * origin of an OAuth2 provider's first strict redirect URI.
 */
function launchUrlOf(provider: ProviderRow | undefined): string | null {
  if (!provider) return null;
  const config = fromJson<{
    external_host?: string;
    redirect_uris?: { matching_mode: string; url: string }[];
  }>(provider.config);
  if (provider.kind === "proxy" && config.external_host) return config.external_host;
  if (provider.kind === "oauth2") {
    const strict = config.redirect_uris?.find((r) => r.matching_mode === "strict");
    if (strict && URL.canParse(strict.url)) return new URL(strict.url).origin;
  }
  return null;
}

/** Whether the policies bound to the application let this user (and request) in. */
export async function checkApplicationAccess(
  ctx: CoreContext,
  app: ApplicationRow,
  request: PolicyRequest,
): Promise<PolicyResult> {
  if (request.user && !toBool(request.user.is_active))
    return { passing: false, messages: ["User is not active."] };
  return evaluateTarget(ctx, ctx.store.db, app.app_uuid, app.policy_engine_mode as PolicyEngineMode, request);
}

/**
 * An outpost's check_access (LDAP, RADIUS): whether `user`, asking in this request, may use the
 * application `slug` names, by its policies. No slug passes; an unknown one is a 404 with the caller's
 * error code.
 */
export async function outpostAccess(
  ctx: CoreContext,
  slug: string | null,
  user: UserRow,
  meta: RequestMeta,
  notFoundCode: string,
): Promise<PolicyResult> {
  if (!slug) return { passing: true, messages: [] };
  const app = await ctx.store.db
    .selectFrom("applications")
    .selectAll()
    .where("slug", "=", slug)
    .executeTakeFirst();
  if (!app) throw notFound(notFoundCode, "No Application matches the given query.");
  return checkApplicationAccess(ctx, app, {
    user,
    http: { ip: meta.ip, userAgent: meta.userAgent, path: meta.path },
    context: {},
  });
}

export async function listApplications(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
  forUser?: { user: UserRow; http: PolicyRequest["http"] },
): Promise<Paginated<unknown>> {
  let q = ctx.store.db.selectFrom("applications");
  for (const field of ["slug", "name", "group", "meta_publisher"] as const) {
    const v = params.get(field);
    if (v !== null) q = q.where(field, "=", v);
  }
  if (boolParam(params, "only_with_launch_url")) q = q.where("meta_launch_url", "!=", "");
  const search = params.get("search");
  if (search)
    q = q.where((eb) =>
      eb.or([containsText(ctx.store.kind, "name", search), containsText(ctx.store.kind, "slug", search)]),
    );
  let rows = q.selectAll();
  for (const o of orderingParam(params, { name: "name", slug: "slug", group: "group" } as const, [
    { column: "name", direction: "asc" },
  ])) {
    rows = rows.orderBy(o.column, o.direction);
  }
  let all = await rows.execute();
  if (forUser) {
    // The user's own list: only what their policies let them open.
    const allowed: ApplicationRow[] = [];
    for (const app of all) {
      const result = await checkApplicationAccess(ctx, app, {
        user: forUser.user,
        http: forUser.http,
        context: {},
      });
      if (result.passing) allowed.push(app);
    }
    all = allowed;
  }
  const pageRows = all.slice(page.offset, page.offset + page.pageSize);
  return paginate(await serializeApplications(ctx.store.db, pageRows), all.length, page);
}

export async function getApplication(db: Db, slug: string): Promise<ApplicationRow> {
  const row = await db.selectFrom("applications").selectAll().where("slug", "=", slug).executeTakeFirst();
  if (!row) throw notFound("AP0001ApplicationNotFound", "No Application matches the given query.");
  return row;
}

async function check(db: Db, input: Partial<ApplicationRequest>, except?: string): Promise<void> {
  const fields: Record<string, string[]> = {};
  if (input.slug !== undefined) {
    let q = db.selectFrom("applications").select("app_uuid").where("slug", "=", input.slug);
    if (except) q = q.where("app_uuid", "!=", except);
    if (await q.executeTakeFirst()) fields.slug = ["Application with this slug already exists."];
  }
  const providers = [...(input.provider ? [input.provider] : []), ...(input.backchannel_providers ?? [])];
  if (providers.length > 0) {
    const found = new Set(
      (await db.selectFrom("providers").select("id").where("id", "in", providers).execute()).map((p) => p.id),
    );
    const missing = providers.filter((p) => !found.has(p));
    if (missing.length > 0)
      fields.provider = missing.map((p) => `Invalid pk "${p}" - object does not exist.`);
    if (input.provider) {
      let used = db.selectFrom("applications").select("slug").where("provider", "=", input.provider);
      if (except) used = used.where("app_uuid", "!=", except);
      const other = await used.executeTakeFirst();
      if (other) fields.provider = [`This provider is already used by application ${other.slug}.`];
    }
  }
  if (Object.keys(fields).length > 0) throw validationError("AP0002InvalidApplication", fields);
}

async function setBackchannel(db: Db, app: string, providers: number[] | undefined): Promise<void> {
  if (providers === undefined) return;
  await db.deleteFrom("application_backchannel_providers").where("app_uuid", "=", app).execute();
  const ids = [...new Set(providers)];
  if (ids.length > 0)
    await db
      .insertInto("application_backchannel_providers")
      .values(ids.map((provider) => ({ app_uuid: app, provider })))
      .execute();
}

export async function createApplication(db: Db, input: ApplicationRequest): Promise<ApplicationRow> {
  await check(db, input);
  const row = await db
    .insertInto("applications")
    .values({
      app_uuid: crypto.randomUUID(),
      name: input.name,
      slug: input.slug,
      provider: input.provider ?? null,
      open_in_new_tab: input.open_in_new_tab ?? false,
      meta_launch_url: input.meta_launch_url ?? "",
      meta_icon: input.meta_icon ?? "",
      meta_description: input.meta_description ?? "",
      meta_publisher: input.meta_publisher ?? "",
      policy_engine_mode: input.policy_engine_mode ?? "any",
      group: input.group ?? "",
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await setBackchannel(db, row.app_uuid, input.backchannel_providers);
  return row;
}

export async function updateApplication(
  db: Db,
  slug: string,
  input: Partial<ApplicationRequest>,
): Promise<ApplicationRow> {
  const current = await getApplication(db, slug);
  await check(db, input, current.app_uuid);
  const { backchannel_providers, ...rest } = input;
  const row = await db
    .updateTable("applications")
    .set(rest)
    .where("app_uuid", "=", current.app_uuid)
    .returningAll()
    .executeTakeFirstOrThrow();
  await setBackchannel(db, row.app_uuid, backchannel_providers);
  return row;
}

export async function deleteApplication(db: Db, slug: string): Promise<ApplicationRow> {
  const row = await getApplication(db, slug);
  await db.deleteFrom("policy_bindings").where("target", "=", row.app_uuid).execute();
  await db.deleteFrom("applications").where("app_uuid", "=", row.app_uuid).execute();
  return row;
}
