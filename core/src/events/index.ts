/** /api/v3/events/events/ — read and filter events; superusers may also post custom ones. */
import { type Static, Type as t } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { sql } from "kysely";
import { notFound, validationError } from "../../../shared/errors.ts";
import { authenticated } from "../api/authenticated.ts";
import { parseBody } from "../api/body.ts";
import { doc } from "../api/doc.ts";
import { isUuid } from "../api/formats.ts";
import { type PageRequest, type Paginated, pageRequest, paginate } from "../api/pagination.ts";
import { listParam, orderingParam } from "../api/query.ts";
import { eventUser, requireSuperuser } from "../auth/actor.ts";
import type { CoreContext } from "../context.ts";
import { outpostOfUser } from "../outposts/service.ts";
import { containsJsonText, containsText, jsonText } from "../store/search.ts";
import { EVENT_ACTIONS, isEventAction } from "./actions.ts";
import { type EventOut, recordEvent, serializeEvent } from "./service.ts";

const EventRequest = t.Object({
  action: t.String({ minLength: 1, maxLength: 100 }),
  app: t.String({ minLength: 1, maxLength: 200 }),
  context: t.Optional(t.Record(t.String(), t.Unknown())),
  client_ip: t.Optional(t.Union([t.String({ maxLength: 64 }), t.Null()])),
  user: t.Optional(t.Record(t.String(), t.Unknown())),
  expires: t.Optional(t.String({ format: "date-time" })),
  brand: t.Optional(t.Record(t.String(), t.Unknown())),
});

const ORDERING = { created: "created", action: "action", client_ip: "client_ip", app: "app" } as const;

async function listEvents(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
  onlyUserId?: number,
): Promise<Paginated<EventOut>> {
  const kind = ctx.store.kind;
  let q = ctx.store.db.selectFrom("events");
  // SQLite's json_extract answers the number itself, which never equals text: compare as text on both.
  if (onlyUserId !== undefined) {
    q = q.where(sql<string>`cast(${jsonText(kind, "user", "pk")} as text)`, "=", String(onlyUserId));
  }
  // As authentik's EventsFilter: `action` matches any part of the action, case-insensitively (so
  // action=login also finds login_failed); `actions` names exact ones.
  const action = params.get("action");
  if (action) q = q.where(containsText(kind, "action", action));
  const actions = listParam(params, "actions");
  if (actions.length > 0) q = q.where("action", "in", actions);
  const ip = params.get("client_ip");
  if (ip) q = q.where("client_ip", "=", ip);
  const username = params.get("username");
  if (username) q = q.where(jsonText(kind, "user", "username"), "=", username);
  for (const [param, key] of [
    ["context_model_app", "app"],
    ["context_model_name", "model_name"],
    ["context_model_pk", "pk"],
  ] as const) {
    const v = params.get(param);
    if (v) q = q.where(modelField(kind, key), "=", key === "pk" ? modelPk(v) : v);
  }
  const search = params.get("search");
  if (search) {
    q = q.where((eb) =>
      eb.or([
        containsText(kind, "action", search),
        containsText(kind, "app", search),
        containsText(kind, "client_ip", search),
        containsJsonText(kind, "user", search),
        containsJsonText(kind, "context", search),
      ]),
    );
  }
  const order = orderingParam(params, ORDERING, [{ column: "created", direction: "desc" }]);
  const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  let rows = q.selectAll();
  for (const o of order) rows = rows.orderBy(o.column, o.direction);
  const pageRows = await rows.orderBy("event_uuid").limit(page.pageSize).offset(page.offset).execute();
  return paginate(pageRows.map(serializeEvent), Number(count), page);
}

/** context.model.<key> as text. */
function modelField(kind: CoreContext["store"]["kind"], key: "app" | "model_name" | "pk") {
  const column = "context";
  return kind === "postgres"
    ? jsonPath(`(${column} -> 'model' ->> '${key}')`)
    : jsonPath(`cast(json_extract(${column}, '$.model.${key}') as text)`);
}

/** authentik keeps uuid pks as hex without dashes, so clients send either form; ours have dashes. */
function modelPk(value: string): string {
  const hex = value.replaceAll("-", "").toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return value;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const jsonPath = (expr: string) => sql<string>`${sql.raw(expr)}`;

/** What an outpost may report (as itself). */
const OUTPOST_ACTIONS = ["configuration_error", "system_exception"];

export function eventsController(ctx: CoreContext) {
  return new Elysia({ prefix: "/events/events" })
    .use(authenticated(ctx))
    .get(
      "/",
      ({ actor, search }) =>
        listEvents(ctx, search, pageRequest(search), actor.superuser ? undefined : actor.user.id),
      doc("events", "events_events_list", "PaginatedEventList"),
    )
    .get(
      "/actions/",
      () =>
        EVENT_ACTIONS.map((name) => ({
          name,
          description: name.replaceAll("_", " "),
          component: "",
          model_name: "",
        })),
      doc("events", "events_events_actions_list", "TypeCreate"),
    )
    .post(
      "/",
      async ({ actor, meta, body, set }) => {
        // authentik gives outposts `add_event` for their configuration_error reports; here an outpost
        // may post those (as itself), anything else is for superusers.
        const outpost = !actor.superuser && (await outpostOfUser(ctx.store.db, actor.user.id));
        if (!outpost) requireSuperuser(actor);
        const input: Static<typeof EventRequest> = parseBody(EventRequest, body, {
          readOnly: ["pk", "created"],
        });
        if (outpost) {
          if (!OUTPOST_ACTIONS.includes(input.action)) requireSuperuser(actor);
          input.user = undefined;
        }
        if (!isEventAction(input.action)) {
          throw validationError("EV0010UnknownAction", {
            action: [`"${input.action}" is not a valid choice.`],
          });
        }
        const pk = await recordEvent(ctx, ctx.store.db, {
          action: input.action,
          app: input.app,
          context: input.context ?? {},
          clientIp: input.client_ip ?? meta.ip,
          user: (input.user as ReturnType<typeof eventUser>) ?? eventUser(actor),
          ...(input.brand && { brand: input.brand }),
          ...(input.expires && { expires: new Date(input.expires) }),
        });
        const row = await ctx.store.db
          .selectFrom("events")
          .selectAll()
          .where("event_uuid", "=", pk)
          .executeTakeFirstOrThrow();
        set.status = 201;
        return serializeEvent(row);
      },
      doc("events", "events_events_create", "Event", EventRequest, 201),
    )
    .get(
      "/:uuid/",
      async ({ actor, params }) => {
        const row = isUuid(params.uuid)
          ? await ctx.store.db
              .selectFrom("events")
              .selectAll()
              .where("event_uuid", "=", params.uuid.toLowerCase())
              .executeTakeFirst()
          : undefined;
        const out = row && serializeEvent(row);
        if (!out || (!actor.superuser && out.user.pk !== actor.user.id)) {
          throw notFound("EV0011NotFound", "No Event matches the given query.");
        }
        return out;
      },
      doc("events", "events_events_retrieve", "Event"),
    );
}
