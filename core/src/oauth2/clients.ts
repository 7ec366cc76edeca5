/**
 * OAuth2 clients: the provider a client_id names, and client authentication (RFC 6749 §2.3.1) by HTTP
 * Basic or the body. Secrets are compared in constant time, also for unknown clients, so timing tells
 * nothing; a failed Basic gets 401 with WWW-Authenticate. Clients are looked up in memory (cache.ts).
 */
import { constantTimeEqual } from "../../../shared/crypto.ts";
import type { CoreContext } from "../context.ts";
import { OAUTH2_CLIENT_KINDS, type ProviderRow } from "../providers/base.ts";
import { oauth2Settings } from "../providers/oauth2.ts";
import { oauth2Cache } from "./cache.ts";
import { OAuthError } from "./http.ts";

export interface ClientCredentials {
  clientId: string;
  clientSecret: string | undefined;
  basic: boolean;
}

/** The client's credentials from HTTP Basic (form-encoded parts) or the body. */
export function clientCredentials(request: Request, form: URLSearchParams): ClientCredentials {
  const header = request.headers.get("authorization") ?? "";
  if (/^basic /i.test(header)) {
    const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
    const at = decoded.indexOf(":");
    if (at < 0) throw invalidClient(true);
    const formDecode = (v: string) => {
      try {
        return decodeURIComponent(v.replace(/\+/g, " "));
      } catch {
        throw invalidClient(true);
      }
    };
    return {
      clientId: formDecode(decoded.slice(0, at)),
      clientSecret: formDecode(decoded.slice(at + 1)),
      basic: true,
    };
  }
  const clientId = form.get("client_id");
  if (!clientId) throw new OAuthError("invalid_request", "client_id is missing");
  return { clientId, clientSecret: form.get("client_secret") ?? undefined, basic: false };
}

export const invalidClient = (basic: boolean) =>
  new OAuthError(
    "invalid_client",
    "Client authentication failed",
    401,
    basic ? { "www-authenticate": 'Basic realm="gatehouse"' } : {},
  );

/** The OAuth2 provider a client_id names, from the client index (oauth2/cache.ts). */
export async function providerByClientId(
  ctx: CoreContext,
  clientId: string,
): Promise<ProviderRow | undefined> {
  const index = await oauth2Cache(ctx).get("clients", () => clientIndex(ctx));
  return index.get(clientId);
}

/** Every OAuth2 provider by its client_id (unique: the provider API refuses a taken one). */
async function clientIndex(ctx: CoreContext): Promise<Map<string, ProviderRow>> {
  const rows = await ctx.store.db
    .selectFrom("providers")
    .selectAll()
    .where("kind", "in", OAUTH2_CLIENT_KINDS)
    .execute();
  const index = new Map<string, ProviderRow>();
  // Ordered as the rows came, the first provider with an id wins, as the scan this replaces did.
  for (const row of rows) {
    const id = oauth2Settings(row).client_id;
    if (!index.has(id)) index.set(id, row);
  }
  return index;
}

export interface AuthenticateOptions {
  /** Public clients may identify themselves by client_id alone (code, refresh and device grants). */
  allowPublic?: boolean;
}

/**
 * The client making the request: a confidential client authenticated by its secret, or (when allowed)
 * a public client by its id; otherwise invalid_client.
 */
export async function authenticateClient(
  ctx: CoreContext,
  request: Request,
  form: URLSearchParams,
  options: AuthenticateOptions = {},
): Promise<ProviderRow> {
  const client = clientCredentials(request, form);
  const provider = await providerByClientId(ctx, client.clientId);
  const settings = provider && oauth2Settings(provider);
  const secretOk = constantTimeEqual(client.clientSecret ?? "", settings?.client_secret ?? "\0");
  if (provider && settings?.client_type === "public" && options.allowPublic) return provider;
  if (!provider || !settings || settings.client_type !== "confidential" || !client.clientSecret || !secretOk)
    throw invalidClient(client.basic);
  return provider;
}
