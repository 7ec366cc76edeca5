/**
 * The `proxy` suite's Bun-native engine: a minimal streaming reverse proxy — `Bun.serve` hands each
 * request to `fetch` on the upstream with the body streamed through, and returns the upstream's
 * response as it streams in. Hop-by-hop headers are dropped both ways; nothing else is added (nginx's
 * anchor config adds nothing either).
 *
 *   bun tests/bench/proxy-fetch-server.ts <upstream URL> [port]   → prints `listening http://127.0.0.1:PORT`
 */
import { HOP_BY_HOP } from "./hop-by-hop.ts";

const upstream = new URL(process.argv[2] ?? "");
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.argv[3] ?? 0),
  async fetch(req) {
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    for (const name of HOP_BY_HOP) headers.delete(name);
    const res = await fetch(`${upstream.origin}${url.pathname}${url.search}`, {
      method: req.method,
      headers,
      body: req.body,
      redirect: "manual",
      decompress: false,
    });
    const out = new Headers(res.headers);
    for (const name of HOP_BY_HOP) out.delete(name);
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers: out });
  },
  error() {
    return new Response("bad gateway\n", { status: 502 });
  },
});
console.log(`listening http://127.0.0.1:${server.port}`);
process.on("SIGTERM", () => {
  void server.stop(true).finally(() => process.exit(0));
});
