/**
 * The `proxy` suite's third engine: the proxy outpost's own HTTP/1.1 client (outposts/proxy/http1.ts,
 * pooled `Bun.connect` sockets on the event loop) behind `Bun.serve`, with nothing else of the outpost —
 * the same minimal proxy as proxy-fetch-server.ts with that client in place of `fetch`.
 *
 *   bun tests/bench/proxy-socket-server.ts <upstream URL> [port]   → prints `listening http://127.0.0.1:PORT`
 */
import { sendUpstream, upstreamOrigin } from "../../outposts/proxy/http1.ts";
import { HOP_BY_HOP } from "./hop-by-hop.ts";

/** Not passed on: the connection's own headers, and Host (the upstream's is the origin's). */
const NOT_PASSED = new Set([...HOP_BY_HOP, "host"]);

const origin = upstreamOrigin(new URL(process.argv[2] ?? ""));
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.argv[3] ?? 0),
  fetch(req) {
    const url = new URL(req.url);
    const headers: [string, string][] = [];
    req.headers.forEach((value, name) => {
      if (!NOT_PASSED.has(name)) headers.push([name, value]);
    });
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    return sendUpstream({
      method: req.method,
      origin,
      path: `${url.pathname}${url.search}`,
      headers,
      body: hasBody ? req.body : null,
      verifyTls: true,
      timeoutMs: 30_000,
    });
  },
  error() {
    return new Response("bad gateway\n", { status: 502 });
  },
});
console.log(`listening http://127.0.0.1:${server.port}`);
process.on("SIGTERM", () => {
  void server.stop(true).finally(() => process.exit(0));
});
