/**
 * The OAuth2/OpenID endpoints under /application/o/ (reference §5.8): authorization, token, userinfo,
 * introspection, revocation, and per application its JWKS and discovery document, which lists exactly
 * what is served.
 */
import { Elysia } from "elysia";
import type { CoreContext } from "../context.ts";
import { authorizeEndpoint } from "./authorize.ts";
import { servedFromCache } from "./cache.ts";
import { deviceAuthorizationEndpoint } from "./device.ts";
import { discoveryDocument, providerOfApplication } from "./discovery.ts";
import { introspectionEndpoint, revocationEndpoint } from "./introspect.ts";
import { jwks } from "./keys.ts";
import { endSessionEndpoint } from "./logout.ts";
import { tokenEndpoint } from "./token.ts";
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

export function oauth2Controller(ctx: CoreContext) {
  // Discovery documents and JWKS are answered from memory once built (cache.ts).
  const discoveryCache = servedFromCache(ctx);
  return new Elysia({ prefix: "/application/o" })
    .get("/authorize/", ({ request }) => authorizeEndpoint(ctx, request))
    .post("/authorize/", ({ request }) => authorizeEndpoint(ctx, request), { parse: "none" })
    .post("/token/", ({ request }) => withCors(tokenEndpoint(ctx, request)), { parse: "none" })
    .options("/token/", preflight)
    .post("/device/", ({ request }) => deviceAuthorizationEndpoint(ctx, request), { parse: "none" })
    .get("/userinfo/", ({ request }) => withCors(userinfoEndpoint(ctx, request)))
    .post("/userinfo/", ({ request }) => withCors(userinfoEndpoint(ctx, request)), { parse: "none" })
    .options("/userinfo/", preflight)
    .post("/introspect/", ({ request }) => introspectionEndpoint(ctx, request), { parse: "none" })
    .post("/revoke/", ({ request }) => revocationEndpoint(ctx, request), { parse: "none" })
    .get("/:slug/end-session/", ({ params, request }) => endSessionEndpoint(ctx, request, params.slug))
    .post("/:slug/end-session/", ({ params, request }) => endSessionEndpoint(ctx, request, params.slug), {
      parse: "none",
    })
    .onBeforeHandle(discoveryCache.beforeHandle)
    .onAfterHandle(discoveryCache.afterHandle)
    .get("/:slug/.well-known/openid-configuration", async ({ params, request }) => {
      const provider = await providerOfApplication(ctx, params.slug);
      if (!provider) return json({ detail: "Not found." }, 404);
      const document = await discoveryDocument(ctx, new URL(request.url).origin, params.slug, provider);
      return json(document, 200, { "cache-control": "public, max-age=300" });
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
