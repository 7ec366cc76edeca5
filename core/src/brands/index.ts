/** /api/v3/core/brands/ (superusers) and /api/v3/core/brands/current/ (anyone). */
import { Elysia } from "elysia";
import { crudRoutes } from "../api/crud.ts";
import type { CoreContext } from "../context.ts";
import { BRAND_READ_ONLY, BrandRequest } from "./model.ts";
import {
  createBrand,
  currentBrand,
  deleteBrand,
  getBrand,
  listBrands,
  serializeBrand,
  updateBrand,
} from "./service.ts";

export function brandsController(ctx: CoreContext) {
  const current = new Elysia().get(
    "/core/brands/current/",
    ({ request }) => currentBrand(ctx.store.db, request.headers.get("host") ?? new URL(request.url).host),
    { detail: { tags: ["core"], operationId: "core_brands_current_retrieve" } },
  );
  const admin = crudRoutes(ctx, {
    prefix: "/core/brands",
    tag: "core",
    operation: "core_brands",
    schema: BrandRequest,
    readOnly: BRAND_READ_ONLY,
    list: listBrands,
    get: getBrand,
    create: (db, input) => createBrand(db, input),
    update: updateBrand,
    remove: deleteBrand,
    serialize: (_db, row) => serializeBrand(row),
    model: (row) => ({ name: "brand", pk: row.brand_uuid, label: row.domain }),
  });
  // "current" is registered first so it is not taken for a brand uuid.
  return new Elysia().use(current).use(admin);
}
