/** OAuth2 error and JSON answers (RFC 6749 §5.1/§5.2): never cached, errors as {error, error_description}. */

export class OAuthError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }
}

const NO_STORE = { "cache-control": "no-store", pragma: "no-cache" };

export function oauthJson(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...NO_STORE, ...headers },
  });
}

export function oauthErrorResponse(err: OAuthError): Response {
  return oauthJson({ error: err.error, error_description: err.description }, err.status, err.headers);
}

/** Runs an endpoint body, turning an OAuthError into its RFC answer. */
export async function oauthEndpoint(run: () => Promise<Response>): Promise<Response> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof OAuthError) return oauthErrorResponse(err);
    throw err;
  }
}

/** The form body of a token, introspection, revocation or device request; anything else is invalid_request. */
export async function formBody(request: Request): Promise<URLSearchParams> {
  const type = request.headers.get("content-type") ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded"))
    throw new OAuthError("invalid_request", "the request body must be application/x-www-form-urlencoded");
  return new URLSearchParams(await request.text());
}

/** scheme://host of the request, as clients reached it: the base of issuers and endpoint URLs. */
export const originOf = (request: Request): string => new URL(request.url).origin;
