/**
 * The `proxy` suite's fourth engine: the proxy outpost's HTTP front (outposts/proxy/front.ts, requests
 * read and relayed on `Bun.listen` sockets, no Request or Response) with its HTTP/1.1 client, and
 * nothing else of the outpost: every GET is sent on as it came, without its hop-by-hop headers.
 *
 *   bun tests/bench/proxy-front-server.ts <upstream URL> [port]   → prints `listening http://127.0.0.1:PORT`
 */
import { startFront } from "../../outposts/proxy/front.ts";
import { testApplication } from "../../outposts/proxy/testing.ts";
import { upstreamTarget } from "../../outposts/proxy/upstream.ts";
import { createLogger } from "../../shared/log.ts";
import { HOP_BY_HOP } from "./hop-by-hop.ts";

/** Not passed on: the connection's own headers, and Host (the upstream's is the origin's). */
const NOT_PASSED = new Set([...HOP_BY_HOP, "host"]);

const upstream = process.argv[2] ?? "";
const app = testApplication({ internal_host: upstream });
const front = startFront({
  hostname: "127.0.0.1",
  port: Number(process.argv[3] ?? 0),
  // No body, upgrade or odd head is measured: nothing is piped.
  fallback: () => {
    throw new Error("the bench front pipes nothing");
  },
  clients: new Map(),
  decide(request) {
    const headers: [string, string][] = [];
    request.headers.forEach((value, name) => {
      if (!NOT_PASSED.has(name)) headers.push([name, value]);
    });
    const url = new URL(request.url);
    return {
      kind: "upstream",
      app,
      target: upstreamTarget(upstream, url),
      headers,
      identity: undefined,
      allowlisted: false,
    };
  },
  proxied() {},
  upstreamTimeoutMs: 30_000,
  idleTimeoutSeconds: 120,
  log: createLogger({ level: "warn" }),
});
console.log(`listening http://127.0.0.1:${front.port}`);
process.on("SIGTERM", () => {
  front.stop();
  process.exit(0);
});
