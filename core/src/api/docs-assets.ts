/** Serves the API page's Swagger UI files from node_modules, so the page works without a CDN. */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Elysia } from "elysia";

const FILES: Record<string, string> = {
  "swagger-ui-bundle.js": "application/javascript",
  "swagger-ui.css": "text/css",
};

const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gatehouse API</title><link rel="stylesheet" href="/api/v3/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/v3/docs/assets/swagger-ui-bundle.js"></script>
<script src="/api/v3/docs/assets/init.js"></script>
</body></html>`;

/** Loaded as a file rather than inline, so the page works under a script-src 'self' policy. */
const INIT = `window.ui = SwaggerUIBundle({ url: "/api/v3/schema/", dom_id: "#swagger-ui" });`;

export function apiDocsAssets() {
  const dir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  const cache = new Map<string, Uint8Array>();
  return new Elysia()
    .get(
      "/api/v3/docs",
      () => new Response(DOCS_PAGE, { headers: { "content-type": "text/html; charset=utf-8" } }),
    )
    .get("/api/v3/docs/assets/:file", ({ params }) => {
      if (params.file === "init.js")
        return new Response(INIT, { headers: { "content-type": "application/javascript" } });
      const type = FILES[params.file];
      if (!type) return new Response("Not found", { status: 404 });
      let body = cache.get(params.file);
      if (!body) {
        body = readFileSync(join(dir, params.file));
        cache.set(params.file, body);
      }
      return new Response(body, {
        headers: { "content-type": type, "cache-control": "public, max-age=86400" },
      });
    });
}
