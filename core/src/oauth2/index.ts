/**
 * The OAuth2/OpenID endpoints under /application/o/ (reference §5.8). So far the per-application JWKS,
 * which relying parties and the proxy outpost fetch to verify tokens; the authorization server itself
 * (authorize, token, userinfo, discovery, …) comes next.
 */
import { Elysia } from "elysia";
import type { CoreContext } from "../context.ts";
import { introspectionEndpoint, revocationEndpoint } from "./introspect.ts";
import { jwks } from "./keys.ts";
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
