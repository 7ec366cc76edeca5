/**
 * An Elysia hook for controllers whose writes change what LDAP and RADIUS outposts hold: after every
 * successful write the outposts are told at once, with what changed when the route says so —
 *
 * - `users`/`groups`: these users or groups changed (created, edited, deleted, members added or
 *   removed); outposts fetch just those, not the whole directory;
 * - `credentials`: passwords, tokens, MFA devices or roles changed; the directory is the same, only
 *   cached binds go.
 *
 * When the changed object cannot be named, the signal says nothing and outposts refetch everything.
 */
import { Elysia } from "elysia";
import type { CoreContext } from "../context.ts";
import type { DirectoryChange } from "../signals.ts";

export type DirectoryScope = "users" | "groups" | "credentials";

const USER_PATH = /\/core\/users\/(\d+)\//;
const GROUP_PATH = /\/core\/groups\/([0-9a-fA-F-]{32,36})\//;

const pkOf = (value: unknown): unknown =>
  value && typeof value === "object" ? (value as Record<string, unknown>).pk : undefined;

/** What a successful write changed, from its path, body and response; undefined when unknown. */
export function changeOf(
  scope: DirectoryScope,
  path: string,
  body: unknown,
  response: unknown,
): DirectoryChange | undefined {
  if (scope === "credentials" || /\/set_password\/$/.test(path)) return { users: [], groups: [] };
  if (scope === "users") {
    const id = USER_PATH.exec(path)?.[1] ?? pkOf(response);
    const created = (response as { user_pk?: unknown } | undefined)?.user_pk; // service_account/
    const pk = Number(typeof created === "number" ? created : id);
    return Number.isInteger(pk) && pk > 0 ? { users: [pk], groups: [] } : undefined;
  }
  const uuid = GROUP_PATH.exec(path)?.[1] ?? pkOf(response);
  if (typeof uuid !== "string") return undefined;
  // add_user/remove_user: the member's own groups changed too.
  const member = Number(pkOf(body));
  return {
    users: /\/(add|remove)_user\/$/.test(path) && Number.isInteger(member) ? [member] : [],
    groups: [uuid.toLowerCase()],
  };
}

export function signalsDirectoryChanges(ctx: CoreContext, scope: DirectoryScope) {
  return new Elysia().onAfterHandle({ as: "scoped" }, ({ request, body, responseValue }) => {
    if (request.method === "GET" || request.method === "HEAD") return;
    const change = changeOf(scope, new URL(request.url).pathname, body, responseValue);
    ctx.signals.emit({ kind: "directory_changed", ...change });
  });
}
