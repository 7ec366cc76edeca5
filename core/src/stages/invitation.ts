/**
 * Invitation: the flow continues only with a valid invitation (`?itoken=<uuid>`), whose fixed data
 * seeds `prompt_data`. A single-use invitation is consumed here, atomically, so two people cannot use it.
 */
import { Type as t } from "@sinclair/typebox";
import { isUuid } from "../api/formats.ts";
import { recordEventSafely } from "../events/service.ts";
import { fromJson, toBool, toIso } from "../store/codec.ts";
import type { Outcome, StageKind, StageRun } from "./types.ts";

async function accept(run: StageRun): Promise<Outcome> {
  const token = new URLSearchParams(run.plan.context.query ?? "").get("itoken") ?? "";
  const db = run.ctx.store.db;
  const invite = isUuid(token)
    ? await db
        .selectFrom("invitations")
        .selectAll()
        .where("invite_uuid", "=", token.toLowerCase())
        .executeTakeFirst()
    : undefined;
  const valid =
    invite &&
    (invite.expires === null || toIso(invite.expires) > run.ctx.clock().toISOString()) &&
    (invite.flow === null || invite.flow === run.flow.flow_uuid);
  if (!invite || !valid) {
    if (run.stage.config.continue_flow_without_invitation) return { kind: "next" };
    return { kind: "deny", message: "Invalid invite/invite not found" };
  }
  if (toBool(invite.single_use)) {
    const gone = await db
      .deleteFrom("invitations")
      .where("invite_uuid", "=", invite.invite_uuid)
      .executeTakeFirst();
    if (Number(gone.numDeletedRows) !== 1)
      return { kind: "deny", message: "Invalid invite/invite not found" };
  }
  run.plan.context.invitation = invite.invite_uuid;
  run.plan.context.prompt_data = {
    ...fromJson<Record<string, unknown>>(invite.fixed_data),
    ...((run.plan.context.prompt_data as Record<string, unknown>) ?? {}),
  };
  await recordEventSafely(run.ctx, {
    action: "invitation_used",
    clientIp: run.http.ip,
    context: { invitation: { pk: invite.invite_uuid, name: invite.name }, flow: run.flow.slug },
  });
  return { kind: "next" };
}

export const invitationStage: StageKind = {
  model: "invitationstage",
  apiName: "invitation",
  verboseName: "Invitation Stage",
  component: "ak-stage-invitation-form",
  config: t.Object({ continue_flow_without_invitation: t.Optional(t.Boolean()) }),
  defaults: { continue_flow_without_invitation: false },
  challenge: accept,
  respond: accept,
};
