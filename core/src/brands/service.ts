/**
 * Brands: the one whose domain is the longest suffix of the request's host wins, else the default
 * brand, else built-in defaults. `current` is what the UI and flows read.
 */
import type { Selectable } from "kysely";
import { notFound, validationError } from "../../../shared/errors.ts";
import { type PageRequest, type Paginated, paginate } from "../api/pagination.ts";
import { orderingParam } from "../api/query.ts";
import type { CoreContext, Db } from "../context.ts";
import { asJson, fromJson, toBool } from "../store/codec.ts";
import type { BrandsTable } from "../store/database.ts";
import { containsText } from "../store/search.ts";
import { type BrandRequest, FLOW_FIELDS } from "./model.ts";

export type BrandRow = Selectable<BrandsTable>;

export const DEFAULT_BRAND_DOMAIN = "authentik-default";
export const DEFAULT_TITLE = "Gatehouse";
export const DEFAULT_LOGO = "/static/dist/assets/icons/icon_left_brand.svg";
export const DEFAULT_FAVICON = "/static/dist/assets/icons/icon.png";

export function serializeBrand(row: BrandRow) {
  return {
    brand_uuid: row.brand_uuid,
    domain: row.domain,
    default: toBool(row.is_default),
    branding_title: row.branding_title,
    branding_logo: row.branding_logo,
    branding_favicon: row.branding_favicon,
    branding_custom_css: row.branding_custom_css,
    branding_default_flow_background: row.branding_default_flow_background,
    flow_authentication: row.flow_authentication,
    flow_invalidation: row.flow_invalidation,
    flow_recovery: row.flow_recovery,
    flow_unenrollment: row.flow_unenrollment,
    flow_user_settings: row.flow_user_settings,
    flow_device_code: row.flow_device_code,
    default_application: row.default_application,
    web_certificate: row.web_certificate,
    client_certificates: fromJson<{ items?: string[] }>(row.client_certificates).items ?? [],
    attributes: fromJson(row.attributes),
  };
}

/** The brand for a host name (no port): longest matching domain suffix, else the default. */
export async function brandForHost(db: Db, host: string): Promise<BrandRow | undefined> {
  const name = host
    .toLowerCase()
    .replace(/:\d+$/, "")
    .replace(/^\[|\]$/g, "");
  const rows = await db.selectFrom("brands").selectAll().execute();
  let best: BrandRow | undefined;
  for (const row of rows) {
    const domain = row.domain.toLowerCase();
    // As authentik: a plain suffix, so "a.b" serves "aa.b" and "ba.b".
    if (name.endsWith(domain) && (!best || domain.length > best.domain.length)) best = row;
  }
  return best ?? rows.find((r) => toBool(r.is_default));
}

/** authentik's CurrentBrand, with flows named by slug. */
export async function currentBrand(db: Db, host: string) {
  const row = await brandForHost(db, host);
  const flowIds = row ? FLOW_FIELDS.map((f) => row[f]).filter((v): v is string => v !== null) : [];
  const flows = flowIds.length
    ? await db.selectFrom("flows").select(["flow_uuid", "slug"]).where("flow_uuid", "in", flowIds).execute()
    : [];
  const slug = (id: string | null | undefined) => flows.find((f) => f.flow_uuid === id)?.slug ?? "";
  return {
    matched_domain: row?.domain ?? "",
    branding_title: row?.branding_title ?? DEFAULT_TITLE,
    branding_logo: row?.branding_logo ?? DEFAULT_LOGO,
    branding_logo_themed_urls: null,
    branding_favicon: row?.branding_favicon ?? DEFAULT_FAVICON,
    branding_favicon_themed_urls: null,
    branding_custom_css: row?.branding_custom_css ?? "",
    ui_footer_links: [],
    ui_theme: "automatic",
    flow_authentication: slug(row?.flow_authentication),
    flow_invalidation: slug(row?.flow_invalidation),
    flow_recovery: slug(row?.flow_recovery),
    flow_unenrollment: slug(row?.flow_unenrollment),
    flow_user_settings: slug(row?.flow_user_settings),
    flow_device_code: slug(row?.flow_device_code),
    default_locale: "",
    flags: { enterprise_audit_include_expanded_diff: false, policies_buffered_access_view: false },
  };
}

export async function listBrands(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
): Promise<Paginated<unknown>> {
  let q = ctx.store.db.selectFrom("brands");
  const domain = params.get("domain");
  if (domain !== null) q = q.where("domain", "=", domain);
  const search = params.get("search");
  if (search)
    q = q.where((eb) =>
      eb.or([
        containsText(ctx.store.kind, "domain", search),
        containsText(ctx.store.kind, "branding_title", search),
      ]),
    );
  const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  let rows = q.selectAll();
  for (const o of orderingParam(params, { domain: "domain", branding_title: "branding_title" } as const, [
    { column: "domain", direction: "asc" },
  ])) {
    rows = rows.orderBy(o.column, o.direction);
  }
  const found = await rows.limit(page.pageSize).offset(page.offset).execute();
  return paginate(found.map(serializeBrand), Number(count), page);
}

export async function getBrand(db: Db, uuid: string): Promise<BrandRow> {
  const row = await db.selectFrom("brands").selectAll().where("brand_uuid", "=", uuid).executeTakeFirst();
  if (!row) throw notFound("BR0001BrandNotFound", "No Brand matches the given query.");
  return row;
}

async function check(db: Db, input: Partial<BrandRequest>, except?: string): Promise<void> {
  const fields: Record<string, string[]> = {};
  if (input.domain !== undefined) {
    let q = db.selectFrom("brands").select("brand_uuid").where("domain", "=", input.domain);
    if (except) q = q.where("brand_uuid", "!=", except);
    if (await q.executeTakeFirst()) fields.domain = ["Brand with this domain already exists."];
  }
  if (input.default) {
    let q = db.selectFrom("brands").select("brand_uuid").where("is_default", "=", true);
    if (except) q = q.where("brand_uuid", "!=", except);
    if (await q.executeTakeFirst()) fields.default = ["Only a single brand can be set as default."];
  }
  for (const field of FLOW_FIELDS) {
    const id = input[field];
    if (
      id &&
      !(await db.selectFrom("flows").select("flow_uuid").where("flow_uuid", "=", id).executeTakeFirst())
    ) {
      fields[field] = [`Invalid pk "${id}" - object does not exist.`];
    }
  }
  if (Object.keys(fields).length > 0) throw validationError("BR0002InvalidBrand", fields);
}

function columns(input: Partial<BrandRequest>) {
  const { default: isDefault, client_certificates, attributes, ...rest } = input;
  return {
    ...rest,
    ...(isDefault !== undefined && { is_default: isDefault }),
    // Kept wrapped: a bare JSON array would be bound as a PostgreSQL array, not jsonb.
    ...(client_certificates !== undefined && { client_certificates: asJson({ items: client_certificates }) }),
    ...(attributes !== undefined && { attributes: asJson(attributes) }),
  };
}

export async function createBrand(db: Db, input: BrandRequest): Promise<BrandRow> {
  await check(db, input);
  return db
    .insertInto("brands")
    .values({
      brand_uuid: crypto.randomUUID(),
      domain: input.domain,
      is_default: input.default ?? false,
      branding_title: input.branding_title ?? DEFAULT_TITLE,
      branding_logo: input.branding_logo ?? DEFAULT_LOGO,
      branding_favicon: input.branding_favicon ?? DEFAULT_FAVICON,
      branding_custom_css: input.branding_custom_css ?? "",
      branding_default_flow_background:
        input.branding_default_flow_background ?? "/static/dist/assets/images/flow_background.jpg",
      flow_authentication: input.flow_authentication ?? null,
      flow_invalidation: input.flow_invalidation ?? null,
      flow_recovery: input.flow_recovery ?? null,
      flow_unenrollment: input.flow_unenrollment ?? null,
      flow_user_settings: input.flow_user_settings ?? null,
      flow_device_code: input.flow_device_code ?? null,
      default_application: input.default_application ?? null,
      web_certificate: input.web_certificate ?? null,
      client_certificates: asJson({ items: input.client_certificates ?? [] }),
      attributes: asJson(input.attributes ?? {}),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateBrand(db: Db, uuid: string, input: Partial<BrandRequest>): Promise<BrandRow> {
  await getBrand(db, uuid);
  await check(db, input, uuid);
  return db
    .updateTable("brands")
    .set(columns(input))
    .where("brand_uuid", "=", uuid)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteBrand(db: Db, uuid: string): Promise<BrandRow> {
  const row = await getBrand(db, uuid);
  await db.deleteFrom("brands").where("brand_uuid", "=", uuid).execute();
  return row;
}
