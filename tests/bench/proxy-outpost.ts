/**
 * The proxy outpost's place in the `proxy` suite. `outpostScenarios(target)` are a running proxy outpost with a signed-in session, measured
 * against the same upstream and with the same load as the engines around it:
 *   - `outpost (proxy mode)`: GET / on the outpost's listener with the session cookie — authenticated
 *     requests through the outpost to the upstream (goal ≥ 0.6× nginx proxying it directly);
 *   - `outpost /auth/nginx`: GET /outpost.goauthentik.io/auth/nginx with the cookie and X-Original-URL,
 *     as nginx's `auth_request` sends it — forward-auth decisions for a known session (goal ≥ 1.0×
 *     nginx's proxy rate).
 *
 * `outpostTarget()` says which outpost to measure: by default the suite starts one itself
 * (proxy-gatehouse.ts: a core, a proxy provider whose internal host is the suite's upstream, the outpost —
 * the compiled binary, or GATEHOUSE_BENCH_PROXY_OUTPOST_BIN — and a session made through the flow). An
 * outpost started by hand is measured instead when these are set:
 *   GATEHOUSE_BENCH_PROXY_UPSTREAM_PORT=18080   the suite's upstream listens on 127.0.0.1:18080 (the
 *                                               provider's internal host)
 *   GATEHOUSE_BENCH_PROXY_OUTPOST=http://127.0.0.1:9000   the outpost's HTTP listener
 *   GATEHOUSE_BENCH_PROXY_COOKIE='authentik_proxy_xxxxxxxx=…'   a signed-in session cookie
 *   GATEHOUSE_BENCH_PROXY_HOST=app.example.test   the provider's external host, sent as Host (optional)
 *   GATEHOUSE_BENCH_PROXY_PID=12345               the outpost's pid, for CPU per request and RSS (optional)
 */

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

/** An outpost started by hand (the variables above), or undefined: the suite starts one itself. */
export function outpostTarget(env: NodeJS.ProcessEnv = process.env): OutpostTarget | undefined {
  const url = env.GATEHOUSE_BENCH_PROXY_OUTPOST;
  const cookie = env.GATEHOUSE_BENCH_PROXY_COOKIE;
  if (!url || !cookie) return undefined;
  const pid = Number(env.GATEHOUSE_BENCH_PROXY_PID);
  return { url, cookie, host: env.GATEHOUSE_BENCH_PROXY_HOST || undefined, pid: pid > 0 ? pid : undefined };
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
