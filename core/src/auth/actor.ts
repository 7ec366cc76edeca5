/** Who is making a request, and what they may do. */
import { forbidden } from "../../../shared/errors.ts";
import type { EventUser } from "../events/service.ts";
import type { UserRow } from "../users/serialize.ts";

export interface Actor {
  user: UserRow;
  superuser: boolean;
  via: "token" | "session";
  /** The token's identifier or the session's uuid, for audit. */
  credential: string;
}

export function requireSuperuser(actor: Actor): void {
  if (!actor.superuser) throw forbidden("AU0010NotSuperuser");
}

/** Superusers may touch any user; everyone else only themselves. */
export function requireSelfOrSuperuser(actor: Actor, userId: number): void {
  if (!actor.superuser && actor.user.id !== userId) throw forbidden("AU0011NotSelf");
}

export function eventUser(actor: Actor | undefined): EventUser | undefined {
  if (!actor) return undefined;
  return { pk: actor.user.id, username: actor.user.username, email: actor.user.email };
}
