/**
 * The browser-facing pages: `/` (to the brand's login flow, or the user page when signed in),
 * `/if/flow/<slug>/`, `/if/user/`, and their static assets.
 */
import { Elysia } from "elysia";
import { currentBrand } from "../brands/service.ts";
import type { CoreContext } from "../context.ts";
import { flowSession } from "../flows/executor/session.ts";
import { devicePageController } from "../oauth2/device-page.ts";
import { bundle } from "./bundle.ts";
import { LOGO_SVG, page } from "./pages.ts";

const attr = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const hostOf = (request: Request) => request.headers.get("host") ?? new URL(request.url).host;

export function uiController(ctx: CoreContext) {
  return new Elysia()
    .use(devicePageController(ctx))
    .get("/", async ({ request }) => {
      const session = await flowSession(ctx, request);
      if (session.user) return Response.redirect(new URL("/if/user/", request.url).toString(), 302);
      const brand = await currentBrand(ctx.store.db, hostOf(request));
      const flow = brand.flow_authentication || "default-authentication-flow";
      return new Response(null, {
        status: 302,
        headers: { location: `/if/flow/${encodeURIComponent(flow)}/?next=%2Fif%2Fuser%2F` },
      });
    })
    .get("/if/flow/:slug/", async ({ request, params }) => {
      const brand = await currentBrand(ctx.store.db, hostOf(request));
      return page(brand, `<gh-flow-executor slug="${attr(params.slug)}"></gh-flow-executor>`, "flow.js");
    })
    .get("/if/user/", async ({ request }) => {
      const brand = await currentBrand(ctx.store.db, hostOf(request));
      return page(brand, "<gh-user-interface></gh-user-interface>", "user.js");
    })
    .get("/static/dist/:file", async ({ request, params }) => {
      const built = await bundle(params.file);
      if (!built) return new Response("Not found", { status: 404 });
      if (request.headers.get("if-none-match") === built.etag) return new Response(null, { status: 304 });
      return new Response(built.code, {
        headers: {
          "content-type": "application/javascript; charset=utf-8",
          etag: built.etag,
          "cache-control": "no-cache",
        },
      });
    })
    .get(
      "/static/dist/assets/icons/icon_left_brand.svg",
      () => new Response(LOGO_SVG, { headers: { "content-type": "image/svg+xml" } }),
    )
    .get(
      "/static/dist/assets/icons/icon.png",
      () => new Response(LOGO_SVG, { headers: { "content-type": "image/svg+xml" } }),
    );
}
