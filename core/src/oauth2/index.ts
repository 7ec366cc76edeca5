/**
 * The OAuth2/OpenID endpoints under /application/o/ (reference §5.8): the token endpoint (client
 * credentials so far), introspection, revocation, and per application its JWKS and discovery document.
 * Discovery lists only what is served: until the authorization endpoint exists it advertises the
 * client-credentials grant alone (RFC 8414 lets a server without one omit it).
 */
import { Elysia } from "elysia";
import type { CoreContext } from "../context.ts";
import { oauth2Settings } from "../providers/oauth2.ts";
import { introspectionEndpoint, revocationEndpoint } from "./introspect.ts";
import { jwks, signingKey } from "./keys.ts";
import { tokenEndpoint } from "./token.ts";

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

/** The OAuth2 provider an application slug leads to, or undefined. */
async function providerOfApplication(ctx: CoreContext, slug: string) {
  return ctx.store.db
    .selectFrom("applications as a")
    .innerJoin("providers as p", "p.id", "a.provider")
    .selectAll("p")
    .where("a.slug", "=", slug)
    .where("p.kind", "=", "oauth2")
    .executeTakeFirst();
}

export function oauth2Controller(ctx: CoreContext) {
  return new Elysia({ prefix: "/application/o" })
    .post("/token/", ({ request }) => tokenEndpoint(ctx, request), { parse: "none" })
    .post("/introspect/", ({ request }) => introspectionEndpoint(ctx, request), { parse: "none" })
    .post("/revoke/", ({ request }) => revocationEndpoint(ctx, request), { parse: "none" })
    .get("/:slug/.well-known/openid-configuration", async ({ params, request }) => {
      const provider = await providerOfApplication(ctx, params.slug);
      if (!provider) return json({ detail: "Not found." }, 404);
      const settings = oauth2Settings(provider);
      const origin = new URL(request.url).origin;
      const app = `${origin}/application/o`;
      const scopes = settings.property_mappings.length
        ? await ctx.store.db
            .selectFrom("property_mappings")
            .select("scope_name")
            .where("pm_uuid", "in", settings.property_mappings)
            .where("kind", "=", "scope")
            .execute()
        : [];
      const alg = (await signingKey(ctx.store.db, provider).catch(() => undefined))?.alg ?? "HS256";
      const authMethods = ["client_secret_post", "client_secret_basic"];
      return json(
        {
          issuer: settings.issuer_mode === "global" ? `${origin}/` : `${app}/${params.slug}/`,
          token_endpoint: `${app}/token/`,
          introspection_endpoint: `${app}/introspect/`,
          revocation_endpoint: `${app}/revoke/`,
          jwks_uri: `${app}/${params.slug}/jwks/`,
          response_types_supported: [],
          grant_types_supported: ["client_credentials"],
          token_endpoint_auth_methods_supported: authMethods,
          introspection_endpoint_auth_methods_supported: authMethods,
          revocation_endpoint_auth_methods_supported: authMethods,
          subject_types_supported: ["public"],
          id_token_signing_alg_values_supported: [alg],
          scopes_supported: [...new Set(["openid", ...scopes.map((s) => s.scope_name ?? "")])].filter(
            Boolean,
          ),
          claims_supported: [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "azp",
            "email",
            "email_verified",
            "name",
            "given_name",
            "preferred_username",
            "nickname",
            "groups",
          ],
          acr_values_supported: ["goauthentik.io/providers/oauth2/default"],
          request_parameter_supported: false,
        },
        200,
        { "cache-control": "public, max-age=300" },
      );
    })
    .get("/:slug/jwks/", async ({ params }) => {
      const provider = await providerOfApplication(ctx, params.slug);
      if (!provider) return json({ detail: "Not found." }, 404);
      try {
        // Public, and the same for everyone: caches may keep it a while.
        return json(await jwks(ctx.store.db, provider), 200, { "cache-control": "public, max-age=300" });
      } catch (err) {
        ctx.log.error("a provider's signing key cannot be used", {
          code: "OA0001SigningKey",
          provider: provider.name,
          error: (err as Error).message,
        });
        return json({ detail: "The provider's signing key cannot be used." }, 500);
      }
    });
}
