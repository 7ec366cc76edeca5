/**
 * /api/v3/policies/reputation/scores/ — authentik's ReputationViewSet: the scores failed and good logins
 * (web, LDAP, RADIUS) leave per identifier and client address. Read and delete (forgive), superusers only.
 */

import { Elysia } from "elysia";
import type { Selectable } from "kysely";
import { notFound, validationError } from "../../../shared/errors.ts";
import { auditModel } from "../api/audit.ts";
import { authenticated, noContent } from "../api/authenticated.ts";
import { uuidKey } from "../api/crud.ts";
import { doc } from "../api/doc.ts";
import { pageRequest, paginate } from "../api/pagination.ts";
import { listParam, orderingParam } from "../api/query.ts";
import { requireSuperuser } from "../auth/actor.ts";
import { type CoreContext, type Db, inTransaction } from "../context.ts";
import { toIso } from "../store/codec.ts";
import type { ReputationsTable } from "../store/database.ts";
import { containsText } from "../store/search.ts";

type ReputationRow = Selectable<ReputationsTable>;

const ORDERING = { identifier: "identifier", ip: "ip", score: "score", updated: "updated" } as const;

const serialize = (row: ReputationRow) => ({
  pk: row.reputation_uuid,
  identifier: row.identifier,
  ip: row.ip,
  ip_geo_data: {},
  ip_asn_data: {},
  score: Number(row.score),
  updated: toIso(row.updated),
});

async function getScore(db: Db, uuid: string): Promise<ReputationRow> {
  const row = await db
    .selectFrom("reputations")
    .selectAll()
    .where("reputation_uuid", "=", uuid)
    .executeTakeFirst();
  if (!row) throw notFound("RP0001NotFound", "No Reputation matches the given query.");
  return row;
}

export function reputationScoresController(ctx: CoreContext) {
  return new Elysia({ prefix: "/policies/reputation/scores" })
    .use(authenticated(ctx))
    .onBeforeHandle(({ actor }) => requireSuperuser(actor))
    .get(
      "/",
      async ({ search }) => {
        const page = pageRequest(search);
        let q = ctx.store.db.selectFrom("reputations");
        const identifier = search.get("identifier");
        if (identifier) q = q.where("identifier", "=", identifier);
        const identifiers = listParam(search, "identifier_in");
        if (identifiers.length > 0) q = q.where("identifier", "in", identifiers);
        const ip = search.get("ip");
        if (ip) q = q.where("ip", "=", ip);
        const score = search.get("score");
        if (score) {
          if (!/^-?\d{1,18}$/.test(score))
            throw validationError("RP0002BadScore", { score: [`"${score}" is not a valid integer.`] });
          q = q.where("score", "=", Number(score));
        }
        const text = search.get("search");
        if (text)
          q = q.where((eb) =>
            eb.or([
              containsText(ctx.store.kind, "identifier", text),
              containsText(ctx.store.kind, "ip", text),
            ]),
          );
        const { count } = await q
          .select((eb) => eb.fn.countAll<number>().as("count"))
          .executeTakeFirstOrThrow();
        let rows = q.selectAll();
        for (const o of orderingParam(search, ORDERING, [{ column: "identifier", direction: "asc" }]))
          rows = rows.orderBy(o.column, o.direction);
        rows = rows.orderBy("reputation_uuid");
        const found = await rows.limit(page.pageSize).offset(page.offset).execute();
        return paginate(found.map(serialize), Number(count), page);
      },
      doc("policies", "policies_reputation_scores_list", "PaginatedReputationList"),
    )
    .get(
      "/:uuid/",
      async ({ params }) => serialize(await getScore(ctx.store.db, uuidKey(params.uuid))),
      doc("policies", "policies_reputation_scores_retrieve", "Reputation"),
    )
    .get(
      "/:uuid/used_by/",
      async ({ params }) => {
        await getScore(ctx.store.db, uuidKey(params.uuid));
        return [];
      },
      doc("policies", "policies_reputation_scores_used_by_list", "UsedBy"),
    )
    .delete(
      "/:uuid/",
      async ({ actor, meta, params }) => {
        await inTransaction(ctx, async (trx) => {
          const row = await getScore(trx, uuidKey(params.uuid));
          await trx.deleteFrom("reputations").where("reputation_uuid", "=", row.reputation_uuid).execute();
          await auditModel(ctx, trx, actor, meta, "model_deleted", {
            name: "reputation",
            pk: row.reputation_uuid,
            label: `${row.identifier} (${row.ip})`,
          });
        });
        return noContent();
      },
      doc("policies", "policies_reputation_scores_destroy", "No response body", undefined, 204),
    );
}
