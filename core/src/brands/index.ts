/** /api/v3/core/brands/ (superusers) and /api/v3/core/brands/current/ (anyone). */
import { Elysia } from "elysia";
import { notFound } from "../../../shared/errors.ts";
import { auditModel } from "../api/audit.ts";
import { authenticated, noContent } from "../api/authenticated.ts";
import { parseBody } from "../api/body.ts";
import { isUuid } from "../api/formats.ts";
import { pageRequest } from "../api/pagination.ts";
import type { RequestMeta } from "../api/request.ts";
import { type Actor, requireSuperuser } from "../auth/actor.ts";
import { type CoreContext, inTransaction } from "../context.ts";
import { BRAND_READ_ONLY, BrandRequest } from "./model.ts";
import {
  type BrandRow,
  createBrand,
  currentBrand,
  deleteBrand,
  getBrand,
  listBrands,
  serializeBrand,
  updateBrand,
} from "./service.ts";

const brandModel = (row: BrandRow) => ({ name: "brand", pk: row.brand_uuid, label: row.domain });

function uuidOr404(raw: string): string {
  if (!isUuid(raw)) throw notFound("BR0010BadUuid", "No Brand matches the given query.");
  return raw.toLowerCase();
}

export function brandsController(ctx: CoreContext) {
  const op = (verb: string) => ({ detail: { tags: ["core"], operationId: `core_brands_${verb}` } });
  const update = (req: { actor: Actor; meta: RequestMeta; uuid: string; body: unknown }, partial: boolean) =>
    inTransaction(ctx, async (trx) => {
      const input = parseBody(BrandRequest, req.body, { readOnly: BRAND_READ_ONLY, partial });
      const row = await updateBrand(trx, uuidOr404(req.uuid), input);
      await auditModel(ctx, trx, req.actor, req.meta, "model_updated", brandModel(row));
      return serializeBrand(row);
    });
  const current = new Elysia().get(
    "/core/brands/current/",
    ({ request }) => currentBrand(ctx.store.db, request.headers.get("host") ?? new URL(request.url).host),
    op("current_retrieve"),
  );
  const admin = new Elysia({ prefix: "/core/brands" })
    .use(authenticated(ctx))
    .onBeforeHandle(({ actor }) => requireSuperuser(actor))
    .get("/", ({ search }) => listBrands(ctx, search, pageRequest(search)), op("list"))
    .post(
      "/",
      async ({ actor, meta, body, set }) => {
        const input = parseBody(BrandRequest, body, { readOnly: BRAND_READ_ONLY });
        const out = await inTransaction(ctx, async (trx) => {
          const row = await createBrand(trx, input);
          await auditModel(ctx, trx, actor, meta, "model_created", brandModel(row));
          return serializeBrand(row);
        });
        set.status = 201;
        return out;
      },
      op("create"),
    )
    .get(
      "/:uuid/",
      async ({ params }) => serializeBrand(await getBrand(ctx.store.db, uuidOr404(params.uuid))),
      op("retrieve"),
    )
    .put(
      "/:uuid/",
      ({ actor, meta, params, body }) => update({ actor, meta, uuid: params.uuid, body }, false),
      op("update"),
    )
    .patch(
      "/:uuid/",
      ({ actor, meta, params, body }) => update({ actor, meta, uuid: params.uuid, body }, true),
      op("partial_update"),
    )
    .delete(
      "/:uuid/",
      async ({ actor, meta, params }) => {
        await inTransaction(ctx, async (trx) => {
          const row = await deleteBrand(trx, uuidOr404(params.uuid));
          await auditModel(ctx, trx, actor, meta, "model_deleted", brandModel(row));
        });
        return noContent();
      },
      op("destroy"),
    );
  // "current" is registered first so it is not taken for a brand uuid.
  return new Elysia().use(current).use(admin);
}
