/**
 * The embedded proxy outpost at the core's HTTP edge (reference §1.8): which requests the core hands to
 * it instead of its own app — every `/outpost.goauthentik.io/` path, and any request whose Host is a
 * proxy-mode provider's external host — and the websocket bridge for the upgrades it made. The Host
 * check runs on every core request, so it is one Map lookup. The core's own hosts are never taken
 * whole: a provider whose external host is the core's own gets only the outpost paths there.
 */
import type { ServerWebSocket } from "bun";
import type { Application } from "../../../outposts/proxy/application.ts";
import type { ProxyKind } from "../../../outposts/proxy/kind.ts";
import type { SocketData } from "../../../outposts/proxy/server.ts";
import type { Logger } from "../../../shared/log.ts";

const OUTPOST_PATH = "/outpost.goauthentik.io";

/** A websocket the embedded outpost bridges (the core's own sockets carry OutpostSocketData). */
export type ProxySocketData = SocketData & { embeddedProxy: true };

/** The core's Bun server, as far as an upgrade goes. */
interface EdgeUpgrader {
  upgrade(request: Request, options: { data: ProxySocketData; headers?: Record<string, string> }): boolean;
}

/** As the outpost compares hosts: lowercase, no trailing dot, no default port. */
export const normalHost = (host: string) =>
  host
    .toLowerCase()
    .replace(/\.$/, "")
    .replace(/:(80|443)$/, "");

export class EmbeddedProxyRoutes {
  private kind: ProxyKind | undefined;
  /** The last kind's socket bridge: it holds no state of the kind's, so sockets outlive a restart. */
  private bridge: ProxyKind["websocket"] | undefined;
  /**
   * Host → the provider's name, for proxy-mode providers not on the core's own host; also by bare name,
   * for a Host without a port (as the outpost's own findApplication matches).
   */
  private hosts = new Map<string, string>();
  private readonly own = new Set<string>();
  private readonly warned = new Set<string>();

  constructor(private readonly log: Logger) {}

  /** An address the core itself answers at (its listener, the URL browsers use for it). */
  addOwnHost(host: string): void {
    this.own.add(normalHost(host));
  }

  attach(kind: ProxyKind): void {
    this.kind = kind;
    this.bridge = kind.websocket;
  }

  detach(): void {
    this.kind = undefined;
    this.hosts = new Map();
  }

  /** The providers the outpost now serves: rebuilds the Host table. */
  applications(apps: Application[]): void {
    const hosts = new Map<string, string>();
    for (const app of apps) {
      // Where the outpost sends browsers to sign in is the core too.
      this.addOwnHost(new URL(app.browser.authorize).host);
    }
    for (const app of apps) {
      if (app.config.mode !== "proxy") continue;
      const host = normalHost(app.host);
      if (this.own.has(host)) {
        if (!this.warned.has(host))
          this.log.warn("a proxy provider's external host is the core's own; only outpost paths go to it", {
            code: "OP0040EmbeddedOwnHost",
            provider: app.config.name,
            host,
          });
        this.warned.add(host);
        continue;
      }
      hosts.set(host, app.config.name);
    }
    for (const app of apps) {
      const name = app.external.hostname.toLowerCase();
      if (app.config.mode === "proxy" && !this.own.has(name) && !hosts.has(name))
        hosts.set(name, app.config.name);
    }
    this.hosts = hosts;
  }

  /** Whether this request is the embedded outpost's (and it is running). */
  takes(headers: Headers, path: string): boolean {
    if (!this.kind) return false;
    if (path === OUTPOST_PATH || path.startsWith(`${OUTPOST_PATH}/`)) return true;
    if (this.hosts.size === 0) return false;
    const host = headers.get("x-forwarded-host") ?? headers.get("host");
    return host !== null && this.hosts.has(normalHost(host));
  }

  async handle(request: Request, clientIp: string, server: EdgeUpgrader): Promise<Response | undefined> {
    const kind = this.kind;
    if (!kind) return new Response("proxy not running", { status: 502 });
    return kind.handle(request, () => clientIp, {
      upgrade: (req, options) =>
        server.upgrade(req, { ...options, data: { ...options.data, embeddedProxy: true } }),
    });
  }

  /** The bridge for sockets `handle` upgraded. */
  readonly websocket = {
    open: (ws: ServerWebSocket<SocketData>) => this.bridge?.open(ws),
    message: (ws: ServerWebSocket<SocketData>, message: string | Buffer) => this.bridge?.message(ws, message),
    close: (ws: ServerWebSocket<SocketData>, code: number, reason: string) =>
      this.bridge?.close(ws, code, reason),
  };
}

export const isProxySocket = (data: object): data is ProxySocketData => "embeddedProxy" in data;
