/**
 * An Elysia hook for controllers whose writes change what LDAP and RADIUS outposts cached (users,
 * groups, tokens, roles): after every successful write, the outposts are told at once.
 */
import { Elysia } from "elysia";
import type { CoreContext } from "../context.ts";

export function signalsDirectoryChanges(ctx: CoreContext) {
  return new Elysia().onAfterHandle({ as: "scoped" }, ({ request }) => {
    if (request.method !== "GET" && request.method !== "HEAD")
      ctx.signals.emit({ kind: "directory_changed" });
  });
}
