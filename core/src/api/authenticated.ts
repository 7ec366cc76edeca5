/** An Elysia plugin that resolves the caller (or answers 403) for every route of the instance using it. */
import { Elysia } from "elysia";
import { authenticate } from "../auth/authenticate.ts";
import type { CoreContext } from "../context.ts";
import { requestMeta, searchParams } from "./request.ts";

export function authenticated(ctx: CoreContext) {
  return new Elysia().resolve({ as: "scoped" }, async ({ request }) => {
    const meta = requestMeta(request);
    const actor = await authenticate(ctx, request, meta);
    return { actor, meta, search: searchParams(request) };
  });
}

/** Path ids are integers; anything else is simply not found. */
export function intId(raw: string): number {
  return /^\d{1,15}$/.test(raw) ? Number(raw) : -1;
}

export const noContent = () => new Response(null, { status: 204 });
