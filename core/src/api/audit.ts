/** model_* and other audit events written inside the request's transaction. */
import { type Actor, eventUser } from "../auth/actor.ts";
import type { CoreContext, Db } from "../context.ts";
import type { EventAction } from "../events/actions.ts";
import { modelContext, recordEvent } from "../events/service.ts";
import type { RequestMeta } from "./request.ts";

export function httpContext(meta: RequestMeta): Record<string, unknown> {
  return {
    http_request: { path: meta.path, method: meta.method, request_id: meta.id, user_agent: meta.userAgent },
  };
}

export async function audit(
  ctx: CoreContext,
  db: Db,
  actor: Actor | undefined,
  meta: RequestMeta,
  action: EventAction,
  context: Record<string, unknown> = {},
): Promise<void> {
  await recordEvent(ctx, db, {
    action,
    user: eventUser(actor),
    clientIp: meta.ip,
    context: { ...context, ...httpContext(meta) },
  });
}

export async function auditModel(
  ctx: CoreContext,
  db: Db,
  actor: Actor,
  meta: RequestMeta,
  action: "model_created" | "model_updated" | "model_deleted",
  model: { name: string; pk: string | number; label: string },
): Promise<void> {
  await audit(ctx, db, actor, meta, action, modelContext(model.name, model.pk, model.label));
}
