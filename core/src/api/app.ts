/**
 * The core's HTTP application: /api/v3 (users, groups, tokens, events, schema and its page), health,
 * metrics and the first-start setup page. Errors from every route pass through one gate.
 */
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import { VERSION } from "../../../shared/version.ts";
import { applicationsController } from "../applications/index.ts";
import { authenticatorsController } from "../authenticators/index.ts";
import { blueprintsController } from "../blueprints/index.ts";
import { blueprintDirs } from "../blueprints/instances.ts";
import { brandsController } from "../brands/index.ts";
import type { CoreContext } from "../context.ts";
import { certificatesController } from "../crypto/index.ts";
import { eventsController } from "../events/index.ts";
import { flowExecutorController } from "../flows/executor/index.ts";
import { flowBindingsController, flowsController } from "../flows/index.ts";
import { groupsController } from "../groups/index.ts";
import { invitationsController } from "../invitations/index.ts";
import type { CoreMetrics } from "../metrics.ts";
import { oauth2Controller } from "../oauth2/index.ts";
import { outpostsController } from "../outposts/index.ts";
import { proxySessionsController } from "../outposts/proxy-sessions.ts";
import { policiesController } from "../policies/index.ts";
import { reputationScoresController } from "../policies/reputation-scores.ts";
import { promptsController } from "../prompts/index.ts";
import { ldapOutpostController, ldapProvidersController } from "../providers/ldap.ts";
import { oauth2ProvidersController } from "../providers/oauth2.ts";
import { proxyOutpostController, proxyProvidersController } from "../providers/proxy.ts";
import { radiusOutpostController, radiusProvidersController } from "../providers/radius.ts";
import { radiusMappingsController } from "../providers/radius-mappings.ts";
import { scopeMappingsController } from "../providers/scope-mappings.ts";
import { rbacController } from "../rbac/index.ts";
import { sessionsController } from "../sessions/index.ts";
import { setupPage } from "../setup/index.ts";
import { stagesController } from "../stages/index.ts";
import { tokensController } from "../tokens/index.ts";
import { uiController } from "../ui/index.ts";
import { usersController } from "../users/index.ts";
import { apiDocsAssets } from "./docs-assets.ts";
import { errorResponse } from "./gate.ts";
import { requestMeta } from "./request.ts";

export function buildApp(ctx: CoreContext, metrics: CoreMetrics) {
  // Providers, their outpost views and mappings: a group of its own keeps the app's type shallow enough.
  const providers = new Elysia()
    .use(ldapProvidersController(ctx))
    .use(ldapOutpostController(ctx))
    .use(radiusProvidersController(ctx))
    .use(radiusOutpostController(ctx))
    .use(proxySessionsController(ctx))
    .use(proxyOutpostController(ctx))
    .use(radiusMappingsController(ctx))
    .use(scopeMappingsController(ctx))
    .use(oauth2ProvidersController(ctx))
    .use(proxyProvidersController(ctx));
  const api = new Elysia({ prefix: "/api/v3" })
    .use(brandsController(ctx))
    .use(usersController(ctx))
    .use(groupsController(ctx))
    .use(tokensController(ctx))
    .use(eventsController(ctx))
    .use(flowExecutorController(ctx))
    .use(flowsController(ctx))
    .use(flowBindingsController(ctx))
    .use(stagesController(ctx))
    .use(reputationScoresController(ctx))
    .use(policiesController(ctx))
    .use(authenticatorsController(ctx))
    .use(sessionsController(ctx))
    .use(promptsController(ctx))
    .use(invitationsController(ctx))
    .use(outpostsController(ctx))
    .use(rbacController(ctx))
    .use(applicationsController(ctx))
    .use(providers)
    .use(certificatesController(ctx))
    .use(blueprintsController(ctx, blueprintDirs(ctx.config.blueprints_dir)));

  return (
    new Elysia()
      .onError({ as: "global" }, ({ code, error, request }) =>
        errorResponse(ctx, requestMeta(request), String(code), error),
      )
      // The matched route template labels the request's metrics (recorded by the HTTP edge).
      .onBeforeHandle({ as: "global" }, ({ request, route }) => {
        requestMeta(request).route = route;
      })
      .use(
        openapi({
          path: "/api/v3/docs",
          specPath: "/api/v3/schema/",
          provider: null,
          documentation: {
            info: {
              title: "Gatehouse",
              version: VERSION,
              description: "Gatehouse API (authentik-compatible /api/v3)",
            },
            components: {
              securitySchemes: { authentik: { type: "http", scheme: "bearer" } },
            },
            security: [{ authentik: [] }],
          },
          swagger: {
            cdn: "/api/v3/docs/assets/swagger-ui-bundle.js",
            theme: "/api/v3/docs/assets/swagger-ui.css",
          },
          exclude: {
            paths: [
              /^\/api\/v3\/docs/,
              /^\/-\//,
              "/metrics",
              /^\/setup/,
              /^\/if\//,
              /^\/static\//,
              /^\/application\//,
              "/",
            ],
          },
        }),
      )
      .use(apiDocsAssets())
      .get("/-/health/live/", () => new Response(null, { status: 204 }))
      .get("/-/health/ready/", async () =>
        (await ctx.store.ping())
          ? new Response(null, { status: 204 })
          : new Response(JSON.stringify({ detail: "store unavailable" }), { status: 503 }),
      )
      .get(
        "/metrics",
        async () =>
          new Response(await metrics.registry.metrics(), {
            headers: { "content-type": metrics.registry.contentType },
          }),
      )
      .use(setupPage(ctx))
      .use(uiController(ctx))
      .use(oauth2Controller(ctx))
      .use(api)
  );
}

export type CoreApp = ReturnType<typeof buildApp>;
