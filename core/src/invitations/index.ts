/** /api/v3/stages/invitation/invitations/ */
import { crudRoutes } from "../api/crud.ts";
import type { CoreContext } from "../context.ts";
import {
  createInvitation,
  deleteInvitation,
  getInvitation,
  INVITATION_READ_ONLY,
  InvitationRequest,
  listInvitations,
  serializeInvitation,
  updateInvitation,
} from "./service.ts";

export function invitationsController(ctx: CoreContext) {
  return crudRoutes(ctx, {
    prefix: "/stages/invitation/invitations",
    tag: "stages",
    operation: "stages_invitation_invitations",
    schema: InvitationRequest,
    readOnly: INVITATION_READ_ONLY,
    list: listInvitations,
    get: getInvitation,
    create: (db, input, actor) => createInvitation(ctx, db, input, actor.user.id),
    update: updateInvitation,
    remove: deleteInvitation,
    serialize: (db, row) => serializeInvitation(ctx, db, row),
    model: (row) => ({ name: "invitation", pk: row.invite_uuid, label: row.name }),
  });
}
