/** GET|POST /api/v3/flows/executor/<slug>/?query=… — authentik's flow executor, wire-compatible. */
import { Elysia } from "elysia";
import { notFound, validationError } from "../../../../shared/errors.ts";
import { json } from "../../api/gate.ts";
import { requestMeta, searchParams } from "../../api/request.ts";
import type { CoreContext } from "../../context.ts";
import { type ExecutorAnswer, execute } from "./run.ts";
import { callerFacts, flowSession, sessionCookie } from "./session.ts";

export function flowExecutorController(ctx: CoreContext) {
  const run = async (request: Request, slug: string, body?: unknown) => {
    const flow = await ctx.store.db
      .selectFrom("flows")
      .selectAll()
      .where("slug", "=", slug)
      .executeTakeFirst();
    if (!flow) throw notFound("FL0010FlowNotFound", "Not found.");
    let response: Record<string, unknown> | undefined;
    if (body !== undefined) {
      if (!(request.headers.get("content-type") ?? "").includes("application/json")) {
        // A JSON body cannot be sent cross-site without a CORS preflight: this is the CSRF guard.
        throw validationError("FL0011NotJson", {
          non_field_errors: ["Flow responses must be sent as application/json."],
        });
      }
      if (body === null || typeof body !== "object" || Array.isArray(body)) {
        throw validationError("FL0012NotObject", {
          non_field_errors: ["Invalid data. Expected a dictionary."],
        });
      }
      response = body as Record<string, unknown>;
    }
    const meta = requestMeta(request);
    const params = searchParams(request);
    const [session, caller] = await Promise.all([flowSession(ctx, request), callerFacts(ctx, request, meta)]);
    const answer = await execute(
      ctx,
      {
        flow,
        session,
        http: caller.http,
        isOutpost: caller.isOutpost,
        query: params.get("query") ?? "",
        requestId: meta.id,
      },
      response,
    );
    return respond(ctx, request, answer);
  };

  return new Elysia({ prefix: "/flows/executor" })
    .get("/:slug/", ({ request, params }) => run(request, params.slug), {
      detail: { tags: ["flows"], operationId: "flows_executor_get" },
    })
    .post("/:slug/", ({ request, params, body }) => run(request, params.slug, body ?? {}), {
      detail: { tags: ["flows"], operationId: "flows_executor_solve" },
    });
}

function respond(ctx: CoreContext, request: Request, answer: ExecutorAnswer): Response {
  const headers: Record<string, string> = { "cache-control": "no-store" };
  if (answer.sessionChanged) {
    const secure = ctx.config["cookie.secure"] || new URL(request.url).protocol === "https:";
    headers["set-cookie"] = sessionCookie(answer.sessionId, secure, answer.persistentFor);
  }
  if (answer.status === 302) {
    const url = new URL(request.url);
    return new Response(null, {
      status: 302,
      headers: { ...headers, location: `${url.pathname}${url.search}` },
    });
  }
  return json(200, answer.body, headers);
}
