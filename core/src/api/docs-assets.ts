/** Serves the API page's Swagger UI files from node_modules, so the page works without a CDN. */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Elysia } from "elysia";

const FILES: Record<string, string> = {
  "swagger-ui-bundle.js": "application/javascript",
  "swagger-ui.css": "text/css",
};

export function apiDocsAssets() {
  const dir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  const cache = new Map<string, Uint8Array>();
  return new Elysia().get("/api/v3/docs/assets/:file", ({ params }) => {
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
