/**
 * The `proxy` suite's `http-proxy` engine: node:http + the npm package `http-proxy` with a keep-alive
 * agent (without one it closes every upstream connection). Plain JavaScript so that both `node` and
 * `bun` run it unchanged.
 *
 *   node|bun tests/bench/proxy-http-proxy-server.mjs <upstream URL> [port]   → prints `listening http://127.0.0.1:PORT`
 */
import http from "node:http";
import httpProxy from "http-proxy";

const target = process.argv[2] ?? "";
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ target, agent });
proxy.on("error", (_err, _req, res) => {
  if (res instanceof http.ServerResponse && !res.headersSent) res.writeHead(502);
  res.end();
});
const server = http.createServer((req, res) => proxy.web(req, res));
server.on("upgrade", (req, socket, head) => proxy.ws(req, socket, head));
server.listen(Number(process.argv[3] ?? 0), "127.0.0.1", () => {
  const address = server.address();
  console.log(`listening http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`);
});
process.on("SIGTERM", () => {
  server.close();
  agent.destroy();
  process.exit(0);
});
