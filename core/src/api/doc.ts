/** OpenAPI details for a route: authentik's operation id and tag, and the request body's JSON schema. */
import type { TSchema } from "@sinclair/typebox";

export interface RouteDoc {
  detail: {
    tags: string[];
    operationId: string;
    summary?: string;
    requestBody?: { required: boolean; content: { "application/json": { schema: TSchema } } };
    responses: Record<string, { description: string }>;
  };
}

export function doc(
  tag: string,
  operationId: string,
  response: string,
  body?: TSchema,
  status = 200,
): RouteDoc {
  return {
    detail: {
      tags: [tag],
      operationId,
      ...(body && { requestBody: { required: true, content: { "application/json": { schema: body } } } }),
      responses: {
        [String(status)]: { description: response },
        "400": { description: "ValidationError" },
        "403": { description: "GenericError" },
      },
    },
  };
}
