/** `gatehouse-proxy`: the proxy outpost (reverse proxy and forward auth). */
import { parseListen } from "../../shared/config/load.ts";
import { int, listen, str } from "../../shared/config/schema.ts";
import { DEFAULT_TRUSTED_PROXY_CIDRS } from "../../shared/networks.ts";
import { outpostMain } from "../runtime/main.ts";
import { proxyKind } from "./kind.ts";

const settings = {
  "listen.http": listen("0.0.0.0:9000", "Address of the HTTP listener."),
  "listen.https": listen("0.0.0.0:9443", "Address of the HTTPS listener (certificates by SNI)."),
  "listen.trusted_proxy_cidrs": str(
    DEFAULT_TRUSTED_PROXY_CIDRS,
    "Comma-separated networks whose connections to the HTTP listener may begin with a PROXY protocol header (v1 or v2) naming the client; empty: none.",
  ),
  "proxy.upstream_timeout": int(60, "Seconds an upstream may take to start answering (then 504).", 1, 3600),
  "proxy.session_grace": int(
    900,
    "Seconds a session or credential the core confirmed still passes while the core cannot be reached (0: none).",
    0,
    86_400,
  ),
};

outpostMain("gatehouse-proxy", settings, (config) =>
  proxyKind({
    host: config.host,
    hostBrowser: config.host_browser,
    insecure: config.insecure,
    listen: parseListen(config["listen.http"]) ?? { hostname: "0.0.0.0", port: 9000 },
    listenTls: parseListen(config["listen.https"]) ?? { hostname: "0.0.0.0", port: 9443 },
    trustedProxyCidrs: config["listen.trusted_proxy_cidrs"],
    upstreamTimeoutMs: config["proxy.upstream_timeout"] * 1000,
    sessionGraceMs: config["proxy.session_grace"] * 1000,
  }),
);
