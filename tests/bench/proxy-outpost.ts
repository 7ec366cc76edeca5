/**
 * ──── THE PROXY OUTPOST'S PLACE IN THE `proxy` SUITE ────
 *
 * `measureOutpost(target, run)` measures a running proxy outpost with a signed-in session, against the
 * same upstream and with the same load as the engines around it:
 *   - `outpost (proxy mode)`: GET / on the outpost's listener with the session cookie — authenticated
 *     requests through the outpost to the upstream (goal ≥ 0.6× nginx proxying it directly);
 *   - `outpost /auth/nginx`: GET /outpost.goauthentik.io/auth/nginx with the cookie and X-Original-URL,
 *     as nginx's `auth_request` sends it — forward-auth decisions for a known session (goal ≥ 1.0×
 *     nginx's proxy rate).
 *
 * `outpostTarget()` says which outpost to measure. Until the suite can start one itself (a core, a proxy
 * provider whose internal host is the suite's upstream, an outpost, a session made through the flow),
 * it takes one started by hand:
 *   GATEHOUSE_BENCH_PROXY_UPSTREAM_PORT=18080   the suite's upstream listens on 127.0.0.1:18080 (the
 *                                               provider's internal host)
 *   GATEHOUSE_BENCH_PROXY_OUTPOST=http://127.0.0.1:9000   the outpost's HTTP listener
 *   GATEHOUSE_BENCH_PROXY_COOKIE='authentik_proxy_xxxxxxxx=…'   a signed-in session cookie
 *   GATEHOUSE_BENCH_PROXY_HOST=app.example.test   the provider's external host, sent as Host (optional)
 *   GATEHOUSE_BENCH_PROXY_PID=12345               the outpost's pid, for CPU per request and RSS (optional)
 * TODO(proxy outpost): once outposts/proxy/main.ts exists, start it here the way ldap-gatehouse.ts starts
 * the LDAP outpost (bun run, or GATEHOUSE_BENCH_PROXY_OUTPOST_BIN for dist/gatehouse-proxy).
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";

export interface OutpostTarget {
  /** The outpost's HTTP listener, http://127.0.0.1:PORT */
  url: string;
  /** A signed-in session as a Cookie header value: `name=value`. */
  cookie: string;
  /** The Host the outpost serves the app under (the provider's external host), when not the URL's. */
  host: string | undefined;
  /** For CPU per request and RSS. */
  pid: number | undefined;
}

/** One measured scenario, as the suite's `run` measures it. */
export interface Scenario {
  name: string;
  url: string;
  headers: Record<string, string>;
  pids: number[];
}

/** The outpost to measure, or why there is none. */
export function outpostTarget(env: NodeJS.ProcessEnv = process.env): OutpostTarget | string {
  const url = env.GATEHOUSE_BENCH_PROXY_OUTPOST;
  const cookie = env.GATEHOUSE_BENCH_PROXY_COOKIE;
  if (url && cookie) {
    const pid = Number(env.GATEHOUSE_BENCH_PROXY_PID);
    return { url, cookie, host: env.GATEHOUSE_BENCH_PROXY_HOST || undefined, pid: pid > 0 ? pid : undefined };
  }
  const main = resolve(import.meta.dir, "../../outposts/proxy/main.ts");
  return existsSync(main)
    ? "outposts/proxy/main.ts exists but the suite does not start it yet; set GATEHOUSE_BENCH_PROXY_OUTPOST and " +
        "GATEHOUSE_BENCH_PROXY_COOKIE (see tests/bench/proxy-outpost.ts)"
    : "no proxy outpost yet (outposts/proxy/main.ts is missing)";
}

/** The two outpost scenarios for `target`; the suite measures them between its two nginx runs. */
export function outpostScenarios(target: OutpostTarget): Scenario[] {
  const origin = new URL(target.url);
  const host = target.host ?? origin.host;
  const headers = { cookie: target.cookie, ...(target.host && { host: target.host }) };
  const pids = target.pid ? [target.pid] : [];
  return [
    { name: "outpost (proxy mode)", url: `${origin.origin}/`, headers, pids },
    {
      name: "outpost /auth/nginx",
      url: `${origin.origin}/outpost.goauthentik.io/auth/nginx`,
      headers: { ...headers, "X-Original-URL": `http://${host}/` },
      pids,
    },
  ];
}

/** Checks a scenario answers 200 before it is loaded: a 401/302 would measure the refusal path. */
export async function checkOutpost(scenario: Scenario): Promise<void> {
  const res = await fetch(scenario.url, { headers: scenario.headers, redirect: "manual" });
  await res.arrayBuffer();
  if (res.status !== 200)
    throw new Error(
      `${scenario.name}: ${scenario.url} answered ${res.status}, not 200 — is the session cookie valid?`,
    );
}
