/** Recording, reading and expiring events. Writes take the caller's transaction so they commit together. */
import type { CoreContext, Db } from "../context.ts";
import { asJson, fromJson, toIso } from "../store/codec.ts";
import type { EventAction } from "./actions.ts";

const DAY_MS = 86_400_000;

/** The snapshot of a user kept on an event (authentik's get_user shape). */
export interface EventUser {
  pk: number;
  username: string;
  email: string;
  is_anonymous?: boolean;
}

export const ANONYMOUS: EventUser = { pk: 0, username: "AnonymousUser", email: "", is_anonymous: true };

export interface NewEvent {
  action: EventAction;
  user?: EventUser | undefined;
  clientIp?: string | null | undefined;
  context?: Record<string, unknown>;
  app?: string;
  brand?: Record<string, unknown>;
  /** When the worker may delete it; `events.retention_days` from now unless given. */
  expires?: Date;
}

export interface EventOut {
  pk: string;
  user: Record<string, unknown>;
  action: string;
  app: string;
  context: Record<string, unknown>;
  client_ip: string | null;
  created: string;
  expires: string;
  brand: Record<string, unknown>;
}

export async function recordEvent(ctx: CoreContext, db: Db, event: NewEvent): Promise<string> {
  const now = ctx.clock();
  const pk = crypto.randomUUID();
  await db
    .insertInto("events")
    .values({
      event_uuid: pk,
      action: event.action,
      app: event.app ?? "gatehouse.core",
      user: asJson({ ...(event.user ?? ANONYMOUS) }),
      context: asJson(event.context ?? {}),
      client_ip: event.clientIp ?? null,
      brand: asJson(event.brand ?? {}),
      created: now.toISOString(),
      // Always UTC ISO text: SQLite compares these as strings when housekeeping sweeps.
      expires: (
        event.expires ?? new Date(now.getTime() + ctx.config["events.retention_days"] * DAY_MS)
      ).toISOString(),
    })
    .execute();
  return pk;
}

/** Records an event outside any request transaction; a failure to record is logged, never thrown. */
export async function recordEventSafely(ctx: CoreContext, event: NewEvent): Promise<void> {
  try {
    await recordEvent(ctx, ctx.store.db, event);
  } catch (err) {
    ctx.log.error("could not record event", { action: event.action, error: err, code: "EV0001RecordFailed" });
  }
}

export async function deleteExpiredEvents(ctx: CoreContext): Promise<number> {
  const result = await ctx.store.db
    .deleteFrom("events")
    .where("expires", "<", ctx.clock().toISOString())
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

export type EventRow = {
  event_uuid: string;
  action: string;
  app: string;
  user: unknown;
  context: unknown;
  client_ip: string | null;
  brand: unknown;
  created: string | Date;
  expires: string | Date;
};

export function serializeEvent(row: EventRow): EventOut {
  return {
    pk: row.event_uuid,
    user: fromJson(row.user),
    action: row.action,
    app: row.app,
    context: fromJson(row.context),
    client_ip: row.client_ip,
    created: toIso(row.created),
    expires: toIso(row.expires),
    brand: fromJson(row.brand),
  };
}

/** The context authentik puts on model_* events. */
export function modelContext(model: string, pk: string | number, name: string): Record<string, unknown> {
  return { model: { app: "authentik_core", model_name: model, pk, name } };
}
