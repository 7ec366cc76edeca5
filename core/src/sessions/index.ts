/**
 * /api/v3/core/authenticated_sessions/: a user's own sessions (superusers: anyone's), revocable one by
 * one or all at once (bulk_delete), which is "sign out everywhere".
 */
import { Elysia } from "elysia";
import { notFound } from "../../../shared/errors.ts";
import { audit } from "../api/audit.ts";
import { authenticated, noContent } from "../api/authenticated.ts";
import { isUuid } from "../api/formats.ts";
import { pageRequest, paginate } from "../api/pagination.ts";
import { intListParam } from "../api/query.ts";
import type { Actor } from "../auth/actor.ts";
import { requireSuperuser } from "../auth/actor.ts";
import { type CoreContext, inTransaction } from "../context.ts";
import { toIso } from "../store/codec.ts";
import { endSessions } from "./service.ts";

type SessionRow = {
  uuid: string;
  user_id: number;
  expires: string | Date;
  last_used: string | Date;
  last_ip: string;
  last_user_agent: string;
};

function userAgent(ua: string) {
  const browser = /(Firefox|Edg|Chrome|Safari|curl)\/([\d.]+)/.exec(ua);
  const os = /(Windows|Mac OS X|Android|iPhone|Linux)/.exec(ua);
  return {
    device: { brand: "", family: "Other", model: "" },
    os: { family: os?.[1] ?? "Other", major: "", minor: "", patch: "", patch_minor: "" },
    user_agent: {
      family: browser?.[1] ?? "Other",
      major: browser?.[2]?.split(".")[0] ?? "",
      minor: "",
      patch: "",
    },
    string: ua,
  };
}

function serialize(row: SessionRow, actor: Actor) {
  return {
    uuid: row.uuid,
    current: actor.via === "session" && actor.credential === row.uuid,
    user_agent: userAgent(row.last_user_agent),
    geo_ip: null,
    asn: null,
    user: row.user_id,
    last_ip: row.last_ip,
    last_user_agent: row.last_user_agent,
    last_used: toIso(row.last_used),
    expires: toIso(row.expires),
  };
}

export function sessionsController(ctx: CoreContext) {
  const op = (verb: string) => ({
    detail: { tags: ["core"], operationId: `core_authenticated_sessions_${verb}` },
  });
  const find = async (actor: Actor, raw: string) => {
    const row = isUuid(raw)
      ? await ctx.store.db
          .selectFrom("sessions")
          .selectAll()
          .where("uuid", "=", raw.toLowerCase())
          .executeTakeFirst()
      : undefined;
    if (!row || (!actor.superuser && row.user_id !== actor.user.id)) {
      throw notFound("SE0001SessionNotFound", "No Authenticated Session matches the given query.");
    }
    return row;
  };
  return new Elysia({ prefix: "/core/authenticated_sessions" })
    .use(authenticated(ctx))
    .get(
      "/",
      async ({ actor, search }) => {
        const page = pageRequest(search);
        let q = ctx.store.db
          .selectFrom("sessions as s")
          .innerJoin("users as u", "u.id", "s.user_id")
          .where("s.expires", ">", ctx.clock().toISOString());
        if (!actor.superuser) q = q.where("s.user_id", "=", actor.user.id);
        const username = search.get("user__username");
        if (username !== null) q = q.where("u.username", "=", username);
        const { count } = await q
          .select((eb) => eb.fn.countAll<number>().as("count"))
          .executeTakeFirstOrThrow();
        const rows = await q
          .selectAll("s")
          .orderBy("s.last_used", "desc")
          .limit(page.pageSize)
          .offset(page.offset)
          .execute();
        return paginate(
          rows.map((r) => serialize(r, actor)),
          Number(count),
          page,
        );
      },
      op("list"),
    )
    .delete(
      "/bulk_delete/",
      async ({ actor, meta, search }) => {
        const users = intListParam(search, "user_pks");
        const targets = users.length === 0 ? [actor.user.id] : users;
        if (targets.some((id) => id !== actor.user.id)) requireSuperuser(actor);
        const deleted = await inTransaction(ctx, async (trx) => {
          // Through endSessions, so the outposts hear SESSION_END and the sessions' tokens end too.
          const ended = await endSessions(ctx, trx, { userIds: targets });
          await audit(ctx, trx, actor, meta, "logout", { sessions_revoked: ended, users: targets });
          return ended;
        });
        return { deleted };
      },
      op("bulk_delete_destroy"),
    )
    .get(
      "/:uuid/",
      async ({ actor, params }) => serialize(await find(actor, params.uuid), actor),
      op("retrieve"),
    )
    .delete(
      "/:uuid/",
      async ({ actor, meta, params }) => {
        const row = await find(actor, params.uuid);
        await inTransaction(ctx, async (trx) => {
          await endSessions(ctx, trx, { uuid: row.uuid });
          await audit(ctx, trx, actor, meta, "logout", { session: row.uuid, user: row.user_id });
        });
        return noContent();
      },
      op("destroy"),
    );
}
