/**
 * A browser played with fetch, for end-to-end tests of the proxy outpost: a cookie jar that keeps
 * `Domain` and host-only cookies apart (ports ignored, as browsers do), redirects followed by hand, and
 * test host names (app.gatehouse.test:PORT) reached on 127.0.0.1 with the name sent as `Host`. Flow
 * pages of the core (/if/flow/<slug>/) are walked through the flow executor's API, as the flow page's
 * script would.
 */
import { FlowClient } from "./flow-client.ts";

interface Cookie {
  name: string;
  value: string;
  /** Lowercase, without a leading dot. */
  domain: string;
  hostOnly: boolean;
}

export interface Credentials {
  username: string;
  password: string;
}

export class WebClient {
  private readonly cookies = new Map<string, Cookie>();
  /** Challenges the last walk went through (component names), for failure messages. */
  readonly seen: string[] = [];
  /** The URLs the last walk visited, with the status each answered. */
  readonly hops: string[] = [];

  constructor(
    /** The core, http://127.0.0.1:PORT: its flow pages are walked through the executor API. */
    private readonly core: string,
    private readonly credentials?: Credentials,
  ) {}

  /** The Cookie header this jar sends to `url`'s host. */
  cookieHeader(url: string | URL): string {
    const host = new URL(url).hostname.toLowerCase();
    return [...this.cookies.values()]
      .filter((c) => (c.hostOnly ? host === c.domain : host === c.domain || host.endsWith(`.${c.domain}`)))
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }

  /** A cookie's value as `url`'s host would be sent it. */
  cookie(url: string | URL, name: string | RegExp): { name: string; value: string } | undefined {
    for (const part of this.cookieHeader(url).split("; ")) {
      const eq = part.indexOf("=");
      const n = part.slice(0, eq);
      if (eq > 0 && (typeof name === "string" ? n === name : name.test(n)))
        return { name: n, value: part.slice(eq + 1) };
    }
    return undefined;
  }

  keep(url: string | URL, res: Response): void {
    const host = new URL(url).hostname.toLowerCase();
    for (const line of res.headers.getSetCookie()) {
      const [pair = "", ...attrs] = line.split(";").map((p) => p.trim());
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const domainAttr = attrs.find((a) => /^domain=/i.test(a))?.slice("domain=".length);
      const domain = (domainAttr ?? host).replace(/^\./, "").toLowerCase();
      const hostOnly = domainAttr === undefined;
      // A server may only set cookies for its own host or a domain above it.
      if (!hostOnly && host !== domain && !host.endsWith(`.${domain}`)) continue;
      const key = `${hostOnly}|${domain}|${name}`;
      const cleared = attrs.some((a) => /^max-age=(0|-\d+)$/i.test(a));
      if (cleared) this.cookies.delete(key);
      else this.cookies.set(key, { name, value, domain, hostOnly });
    }
  }

  /**
   * One request, redirects not followed. A URL on a test name is sent to 127.0.0.1 on its port, or on
   * `via` (another replica behind the same name), with the name as Host.
   */
  async request(
    url: string | URL,
    init: {
      method?: string;
      headers?: Record<string, string>;
      body?: RequestInit["body"];
      via?: number;
    } = {},
  ): Promise<Response> {
    const target = new URL(url);
    const loopback = target.hostname === "127.0.0.1" || target.hostname === "localhost";
    const connect = new URL(target);
    if (!loopback || init.via) {
      connect.hostname = "127.0.0.1";
      if (init.via) connect.port = String(init.via);
    }
    const cookie = this.cookieHeader(target);
    const res = await fetch(connect, {
      method: init.method ?? "GET",
      redirect: "manual",
      headers: {
        ...(connect.host !== target.host && { host: target.host }),
        ...(cookie && { cookie }),
        ...init.headers,
      },
      body: init.body,
    });
    this.keep(target, res);
    return res;
  }

  /**
   * Follows redirects from `url` (each hop on `via` when it is on `viaHost`) until an answer that is no
   * redirect; flow pages of the core are completed on the way. Returns the answer and the URL it is for.
   */
  async walk(
    url: string,
    options: { headers?: Record<string, string>; via?: number; viaHost?: string; maxHops?: number } = {},
  ): Promise<{ res: Response; url: string }> {
    let current = url;
    this.seen.length = 0;
    this.hops.length = 0;
    for (let hop = 0; hop < (options.maxHops ?? 20); hop++) {
      const at = new URL(current);
      const flow = /^\/if\/flow\/([^/]+)\/$/.exec(at.pathname);
      if (flow && at.origin === new URL(this.core).origin) {
        const next = await this.completeFlow(flow[1] as string, at.search.slice(1));
        this.hops.push(`flow ${current}`);
        if (typeof next !== "string") return { res: Response.json(next), url: current };
        current = next;
        continue;
      }
      const via = options.viaHost && at.host === options.viaHost ? options.via : undefined;
      const res = await this.request(current, { headers: options.headers, ...(via && { via }) });
      this.hops.push(`${res.status} ${current}`);
      const location = res.headers.get("location");
      if (res.status < 300 || res.status >= 400 || !location) return { res, url: current };
      await res.body?.cancel();
      current = new URL(location, current).href;
    }
    throw new Error(`more than ${options.maxHops ?? 20} redirects from ${url}; last ${current}`);
  }

  /**
   * Runs a flow through the executor API as the flow page would; returns where it sends the browser, or
   * the challenge it ends on (ak-stage-session-end, an error).
   */
  // biome-ignore lint/suspicious/noExplicitAny: challenges are arbitrary JSON
  private async completeFlow(slug: string, query: string): Promise<string | Record<string, any>> {
    const flows = new FlowClient((r) => fetch(new Request(r.url.replace("http://localhost", this.core), r)));
    flows.cookie = this.cookie(this.core, "authentik_session")?.value;
    const { username = "", password = "" } = this.credentials ?? {};
    let challenge = await flows.login(slug, username, password, query);
    this.seen.push(challenge.component);
    if (challenge.component === "ak-stage-consent") {
      challenge = await flows.post(slug, { component: challenge.component, token: challenge.token }, query);
      this.seen.push(challenge.component);
    }
    if (flows.cookie) this.setCookie(this.core, "authentik_session", flows.cookie);
    if (challenge.component !== "xak-flow-redirect") return challenge;
    return new URL(challenge.to, this.core).href;
  }

  private setCookie(url: string, name: string, value: string): void {
    const domain = new URL(url).hostname.toLowerCase();
    this.cookies.set(`true|${domain}|${name}`, { name, value, domain, hostOnly: true });
  }
}
