/**
 * The OAuth2/OpenID endpoints under /application/o/ (reference §5.8): authorization, token, userinfo,
 * introspection, revocation, and per application its JWKS and discovery document, which lists exactly
 * what is served.
 */
import { Elysia } from "elysia";
import type { CoreContext } from "../context.ts";
import { oauth2Settings } from "../providers/oauth2.ts";
import { authorizeEndpoint, RESPONSE_MODES, RESPONSE_TYPES } from "./authorize.ts";
import { introspectionEndpoint, revocationEndpoint } from "./introspect.ts";
import { jwks, signingKey } from "./keys.ts";
import { SUPPORTED_GRANTS, tokenEndpoint } from "./token.ts";
import { userinfoEndpoint } from "./userinfo.ts";

/** Endpoints a browser app may call from another origin: they take no cookies, so any origin may. */
const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, OPTIONS",
  "access-control-allow-headers": "authorization, content-type",
  "access-control-max-age": "600",
};
const withCors = async (response: Promise<Response>) => {
  const r = await response;
  for (const [k, v] of Object.entries(CORS)) r.headers.set(k, v);
  return r;
};
const preflight = () => new Response(null, { status: 204, headers: CORS });

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
    .get("/authorize/", ({ request }) => authorizeEndpoint(ctx, request))
    .post("/authorize/", ({ request }) => authorizeEndpoint(ctx, request), { parse: "none" })
    .post("/token/", ({ request }) => withCors(tokenEndpoint(ctx, request)), { parse: "none" })
    .options("/token/", preflight)
    .get("/userinfo/", ({ request }) => withCors(userinfoEndpoint(ctx, request)))
    .post("/userinfo/", ({ request }) => withCors(userinfoEndpoint(ctx, request)), { parse: "none" })
    .options("/userinfo/", preflight)
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
          authorization_endpoint: `${app}/authorize/`,
          token_endpoint: `${app}/token/`,
          userinfo_endpoint: `${app}/userinfo/`,
          introspection_endpoint: `${app}/introspect/`,
          revocation_endpoint: `${app}/revoke/`,
          jwks_uri: `${app}/${params.slug}/jwks/`,
          response_types_supported: RESPONSE_TYPES,
          response_modes_supported: RESPONSE_MODES,
          grant_types_supported: SUPPORTED_GRANTS,
          code_challenge_methods_supported: ctx.config["oauth2.pkce_plain"] ? ["plain", "S256"] : ["S256"],
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
          claims_parameter_supported: false,
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
