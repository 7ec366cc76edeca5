/**
 * The one place that decides what an API error looks like outside the process. Exposed errors keep
 * their status and message; everything else becomes a 500 with a reference, a log line and a
 * system_exception event. Bodies follow authentik: `{detail, code}` or field → messages.
 */
import { isGatehouseError } from "../../../shared/errors.ts";
import type { CoreContext } from "../context.ts";
import { recordEventSafely } from "../events/service.ts";
import { httpContext } from "./audit.ts";
import type { RequestMeta } from "./request.ts";

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

export async function errorResponse(
  ctx: CoreContext,
  meta: RequestMeta,
  code: string,
  error: unknown,
): Promise<Response> {
  if (isGatehouseError(error) && error.expose) {
    if (error.status >= 500) ctx.log.warn("request failed", { code: error.code, request_id: meta.id });
    return json(error.status, error.fields ?? { detail: error.message, code: error.code });
  }
  switch (code) {
    case "PARSE":
      return json(400, { detail: `JSON parse error - ${(error as Error).message}`, code: "parse_error" });
    case "NOT_FOUND":
      return json(404, { detail: "Not found.", code: "not_found" });
    case "INVALID_COOKIE_SIGNATURE":
      return json(400, { detail: "Invalid cookie.", code: "invalid_cookie" });
  }
  const internal = isGatehouseError(error) ? error.code : "API0500Unhandled";
  ctx.log.error("unhandled error", {
    code: internal,
    request_id: meta.id,
    error:
      error instanceof Error
        ? { name: error.name, message: error.message, stack: error.stack }
        : String(error),
  });
  await recordEventSafely(ctx, {
    action: "system_exception",
    clientIp: meta.ip,
    context: {
      message: error instanceof Error ? error.message : String(error),
      code: internal,
      ...httpContext(meta),
    },
  });
  return json(500, { detail: `An internal error occurred (reference ${meta.id}).`, code: "internal_error" });
}
