/**
 * Reverse proxying one upstream app: the upstream alone (the limit), nginx proxying it directly (the
 * anchor, measured before and after), minimal Bun-native proxies over `fetch`, over the outpost's own
 * HTTP/1.1 socket client behind Bun.serve, and behind the outpost's own HTTP front (`Bun.listen`), and
 * `http-proxy` (in Bun, what an outpost binary would run, and in Node) —
 * the engines the proxy outpost can be built on — all loaded by wrk at the same concurrency; then each alone on one connection, for the
 * latency a proxy adds when it is not saturated. The proxy outpost (proxy-gatehouse.ts starts it with a
 * core and a signed-in session; proxy-outpost.ts has its scenarios) is measured in rounds, each between
 * two nginx runs, and judged by its median round.
 */
import { APP_HOST, nginxDirectProxy, type ReverseProxy, startNginx } from "../support/reverse-proxies.ts";
import { UPSTREAM_BODY } from "../support/upstream.ts";
import { onCleanup } from "./cleanup.ts";
import { measure, wrkVersion } from "./load.ts";
import {
  type Child,
  childPids,
  nodeVersion,
  startFetchProxy,
  startFrontProxy,
  startHttpProxy,
  startSocketProxy,
  startUpstreamProcess,
  treeCpuSeconds,
} from "./proxy-engines.ts";
import { startProxyOutpost } from "./proxy-gatehouse.ts";
import { checkOutpost, outpostScenarios, outpostTarget, type Scenario } from "./proxy-outpost.ts";
import { machineInfo, processMemory, round, type Table } from "./report.ts";
import { type BenchSettings, type BenchSuite, SetupError } from "./suite.ts";

interface Figures {
  requests_per_s: number;
  p50_ms: number;
  p99_ms: number;
  /** CPU time of the process under test per request (all its threads and worker processes). */
  cpu_us_per_request: number | undefined;
  /** Share of one CPU the process under test used: well under 100 means something else was the limit. */
  cpu_percent: number | undefined;
  /**
   * The upstream's CPU time per request meanwhile: it shares the other CPU with wrk, so a proxy whose
   * requests cost the upstream more (the outpost's identity headers) is held back sooner.
   */
  upstream_cpu_us_per_request: number | undefined;
  read_errors: number;
}

/** With two CPUs or more: the proxy under test alone on CPU 0; wrk and the upstream share CPU 1. */
function cpuLayout(): { server?: string; client?: string; note: string } {
  const cpus = navigator.hardwareConcurrency;
  if (cpus < 2 || !Bun.which("taskset"))
    return {
      note: `not pinned (${cpus} CPU${cpus === 1 ? "" : "s"}${Bun.which("taskset") ? "" : ", no taskset"})`,
    };
  return {
    server: "0",
    client: "1",
    note: "proxy under test pinned to CPU 0; wrk and the upstream to CPU 1",
  };
}

/**
 * Every server here is loaded this long before it is measured, at least: Bun's JavaScript engine compiles
 * hot code in tiers over the first seconds of load (the outpost's rate rose ≈ 15 % from its first 3 s
 * under load to the next), and a proxy is judged by how it runs for days, not in its first second.
 */
const MIN_WARMUP_SECONDS = 5;

const warmupSeconds = (settings: BenchSettings) => Math.max(settings.warmupSeconds, MIN_WARMUP_SECONDS);

/** How a suite run loads its servers. */
interface Loader {
  settings: BenchSettings;
  /** The upstream, whose CPU time per request is reported beside each load. */
  upstreamPid: number;
  /** wrk's CPUs (the upstream's: away from the proxy under test). */
  wrkCpus: string | undefined;
}

/**
 * One measured run of `scenario`. The first run of a server is warmed up for at least
 * MIN_WARMUP_SECONDS (`cold`); a later one of the same server only for the configured warm-up.
 */
async function load(
  { settings, upstreamPid, wrkCpus }: Loader,
  scenario: Scenario,
  connections: number,
  cold = true,
): Promise<Figures> {
  const options = {
    url: scenario.url,
    headers: scenario.headers,
    connections,
    threads: settings.threads,
    ...(wrkCpus && { cpus: wrkCpus }),
  };
  const warmup = cold ? warmupSeconds(settings) : settings.warmupSeconds;
  if (warmup > 0) await measure({ ...options, seconds: warmup, warmupSeconds: 0 });
  const cpu = () => scenario.pids.reduce((sum, pid) => sum + treeCpuSeconds(pid), 0);
  const before = cpu();
  const upstreamBefore = treeCpuSeconds(upstreamPid);
  const r = await measure({ ...options, seconds: settings.seconds, warmupSeconds: 0 });
  const used = cpu() - before;
  const upstreamUsed = treeCpuSeconds(upstreamPid) - upstreamBefore;
  return {
    requests_per_s: round(r.requestsPerSecond),
    p50_ms: r.latencyMs.p50,
    p99_ms: r.latencyMs.p99,
    cpu_us_per_request:
      scenario.pids.length > 0 && r.requests > 0 ? round((used / r.requests) * 1e6, 1) : undefined,
    cpu_percent: scenario.pids.length > 0 ? round((used / r.seconds) * 100) : undefined,
    upstream_cpu_us_per_request: r.requests > 0 ? round((upstreamUsed / r.requests) * 1e6, 1) : undefined,
    read_errors: r.errors.read + r.errors.timeout,
  };
}

async function check(name: string, url: string): Promise<void> {
  const res = await fetch(url, { headers: { host: `${APP_HOST}` } });
  const body = await res.text();
  if (res.status !== 200 || body !== UPSTREAM_BODY)
    throw new Error(`${name}: ${url} answered ${res.status} ${body}`);
}

export const suite: BenchSuite = {
  description:
    "Reverse proxying one upstream: nginx (anchor) vs Bun fetch streaming vs http-proxy vs the proxy outpost",
  async run(settings) {
    const wrk = await wrkVersion();
    if (!Bun.which("nginx"))
      throw new SetupError("nginx is not installed: apt-get install nginx-light (the anchor)");
    const layout = cpuLayout();
    console.log(`cpu layout: ${layout.note}`);
    const fixedPort = Number(process.env.GATEHOUSE_BENCH_PROXY_UPSTREAM_PORT ?? 0);
    const upstream = await startUpstreamProcess(layout.client, fixedPort);
    const nginx: ReverseProxy = await startNginx(nginxDirectProxy(upstream.url), { cpus: layout.server });
    onCleanup(() => nginx.stop());
    const fetchProxy = await startFetchProxy(upstream.url, layout.server);
    const socketProxy = await startSocketProxy(upstream.url, layout.server);
    const frontProxy = await startFrontProxy(upstream.url, layout.server);
    const bunHttpProxy = await startHttpProxy(upstream.url, "bun", layout.server);
    const node = nodeVersion();
    const nodeHttpProxy: Child | undefined = node
      ? await startHttpProxy(upstream.url, "node", layout.server)
      : undefined;
    let target = outpostTarget();
    let outpostCommand = "started by hand (GATEHOUSE_BENCH_PROXY_OUTPOST)";
    if (!target) {
      const cpus = { outpost: layout.server, core: layout.client };
      const started = await startProxyOutpost(upstream.url, cpus, settings.profileDir);
      target = { url: started.url, cookie: started.cookie, host: undefined, pid: started.pid };
      outpostCommand = started.command;
    }
    console.log(`proxy outpost: ${outpostCommand}`);
    await Bun.sleep(1000);
    const outpostPid = target.pid;
    /** The RSS of every process measured, now. */
    const memory = () => ({
      proxy_outpost: outpostPid ? processMemory(outpostPid) : undefined,
      bun_fetch_proxy: processMemory(fetchProxy.pid),
      bun_socket_proxy: processMemory(socketProxy.pid),
      bun_socket_front: processMemory(frontProxy.pid),
      http_proxy_bun: processMemory(bunHttpProxy.pid),
      http_proxy_node: nodeHttpProxy && processMemory(nodeHttpProxy.pid),
      nginx_worker: childPids(nginx.pid).map(processMemory)[0],
    });
    const idle = memory();

    const anchor: Scenario = {
      name: "nginx (1 worker)",
      url: `${nginx.url}/`,
      headers: {},
      pids: [nginx.pid],
    };
    const engines: Scenario[] = [
      { name: "Bun fetch proxy", url: `${fetchProxy.url}/`, headers: {}, pids: [fetchProxy.pid] },
      { name: "Bun socket proxy", url: `${socketProxy.url}/`, headers: {}, pids: [socketProxy.pid] },
      { name: "Bun socket front", url: `${frontProxy.url}/`, headers: {}, pids: [frontProxy.pid] },
      { name: "http-proxy (Bun)", url: `${bunHttpProxy.url}/`, headers: {}, pids: [bunHttpProxy.pid] },
      ...(nodeHttpProxy
        ? [
            {
              name: `http-proxy (Node ${node})`,
              url: `${nodeHttpProxy.url}/`,
              headers: {},
              pids: [nodeHttpProxy.pid],
            },
          ]
        : []),
    ];
    const limit: Scenario = {
      name: "upstream alone",
      url: `${upstream.url}/`,
      headers: {},
      pids: [upstream.pid],
    };
    for (const s of [limit, anchor, ...engines]) await check(s.name, s.url);
    const outpost = outpostScenarios(target);
    for (const s of outpost) await checkOutpost(s);

    const c = settings.connections;
    const loader: Loader = { settings, upstreamPid: upstream.pid, wrkCpus: layout.client };
    const saturated = new Map<string, Figures>();
    for (const s of [limit, anchor, ...engines]) {
      console.log(`${s.name}: ${c} connections`);
      saturated.set(s.name, await load(loader, s, c));
    }
    const nginxRuns: Figures[] = [saturated.get(anchor.name) as Figures];
    const nginxAgain = async () => {
      console.log(`${anchor.name} again`);
      nginxRuns.push(await load(loader, anchor, c, false));
    };
    await nginxAgain();
    // The engines ran between the first two nginx runs.
    const engineAnchor = bracket(nginxRuns[0] as Figures, nginxRuns[1] as Figures);

    // The outpost in rounds, each between two nginx runs, its ratios to their mean: the machine's speed
    // drifts by more than the differences measured, so one pair of runs can land either side of a goal.
    const rounds: Round[] = [];
    for (let r = 0; r < outpostRounds(); r++) {
      const figures = new Map<string, Figures>();
      for (const s of outpost) {
        console.log(`${s.name}: ${c} connections, round ${r + 1}`);
        figures.set(s.name, await load(loader, s, c, r === 0));
      }
      await nginxAgain();
      const nginxAround = bracket(nginxRuns.at(-2) as Figures, nginxRuns.at(-1) as Figures);
      rounds.push({ nginx: nginxAround, figures });
    }

    const single = new Map<string, Figures>();
    for (const s of [limit, anchor, ...engines, ...outpost.slice(0, 1)]) {
      console.log(`${s.name}: 1 connection`);
      single.set(s.name, await load(loader, s, 1));
    }
    const after = memory();

    const ratio = (f: Figures, to: Anchor) => round(f.requests_per_s / to.requests_per_s, 2);
    const cpuRatio = (f: Figures, to: Anchor) =>
      f.cpu_us_per_request && to.cpu_us_per_request
        ? round(to.cpu_us_per_request / f.cpu_us_per_request, 2)
        : undefined;
    /** Per outpost scenario: its ratio in each round, and the round with the median ratio. */
    const outpostFigures = outpost.map((s) => {
      const byRound = rounds.map(({ nginx: to, figures }) => {
        const f = figures.get(s.name) as Figures;
        return { figures: f, anchor: to, ratio: ratio(f, to), cpu_ratio: cpuRatio(f, to) };
      });
      const sorted = [...byRound].sort((a, b) => a.ratio - b.ratio);
      return {
        name: s.name,
        byRound,
        median: sorted[Math.floor((sorted.length - 1) / 2)] as (typeof byRound)[0],
      };
    });
    const measured: [string, Figures, Anchor][] = [
      ...[limit, anchor, ...engines].map(
        (s) => [s.name, saturated.get(s.name) as Figures, engineAnchor] as [string, Figures, Anchor],
      ),
      ...outpostFigures.map((o) => [o.name, o.median.figures, o.median.anchor] as [string, Figures, Anchor]),
    ];
    const nginxAll = bracket(...nginxRuns);
    const base = single.get(limit.name) as Figures;
    const rows = measured.map(([name, f, to]) => ({
      name,
      ...f,
      ratio_to_nginx: ratio(f, to),
      cpu_ratio_to_nginx: cpuRatio(f, to),
      ...(single.has(name) && {
        one_connection: {
          ...(single.get(name) as Figures),
          added_p50_ms: round((single.get(name) as Figures).p50_ms - base.p50_ms, 3),
          added_p99_ms: round((single.get(name) as Figures).p99_ms - base.p99_ms, 3),
        },
      }),
    }));
    const outpostRatio = (name: string) => outpostFigures.find((o) => o.name === name)?.median.ratio;
    const outpostRange = (name: string) => {
      const ratios = outpostFigures.find((o) => o.name === name)?.byRound.map((r) => r.ratio) ?? [];
      return [Math.min(...ratios), Math.max(...ratios)];
    };
    const engineRows = rows.filter((r) => engines.some((e) => e.name === r.name));
    const bunEngines = engineRows.filter((r) => !r.name.includes("Node"));
    const [winner, runnerUp] = [...bunEngines].sort((a, b) => b.requests_per_s - a.requests_per_s);
    const results = {
      suite: "proxy",
      machine: { ...machineInfo(wrk), nginx: nginxVersion(), node },
      settings: {
        seconds: settings.seconds,
        warmup_seconds: warmupSeconds(settings),
        connections: c,
        cpus: layout.note,
      },
      nginx: {
        requests_per_s: nginxAll.requests_per_s,
        runs: nginxRuns.map((f) => f.requests_per_s),
        spread_percent: nginxAll.spread_percent,
        cpu_us_per_request: nginxAll.cpu_us_per_request,
        config: "1 worker, upstream keepalive 64, HTTP/1.1 to the upstream, access_log off",
      },
      scenarios: rows,
      engine_choice: winner && {
        faster_in_bun: winner.name,
        by_rate: runnerUp ? round(winner.requests_per_s / runnerUp.requests_per_s, 2) : undefined,
        by_cpu:
          runnerUp?.cpu_us_per_request && winner.cpu_us_per_request
            ? round(runnerUp.cpu_us_per_request / winner.cpu_us_per_request, 2)
            : undefined,
      },
      memory_mb: { idle, after_load: after },
      outpost: {
        runs: outpostCommand,
        engine:
          "the outpost's HTTP front on Bun.listen sockets + its HTTP/1.1 client on pooled Bun.connect sockets (the socket front above); other requests piped to Bun.serve",
        rounds: rounds.length,
        proxy_mode_ratio: outpostRatio("outpost (proxy mode)"),
        proxy_mode_ratio_range: outpostRange("outpost (proxy mode)"),
        forward_auth_ratio: outpostRatio("outpost /auth/nginx"),
        forward_auth_ratio_range: outpostRange("outpost /auth/nginx"),
        by_round: rounds.map((_, r) => ({
          nginx_requests_per_s: outpostFigures[0]?.byRound[r]?.anchor.requests_per_s,
          ...Object.fromEntries(
            outpostFigures.map((o) => {
              const x = o.byRound[r] as (typeof o.byRound)[0];
              return [
                o.name,
                { requests_per_s: x.figures.requests_per_s, ratio: x.ratio, cpu_ratio: x.cpu_ratio },
              ];
            }),
          ),
        })),
        idle_rss_mb: idle.proxy_outpost?.rss_mb,
        after_load_rss_mb: after.proxy_outpost?.rss_mb,
      },
      goals: {
        proxy_mode_ratio: 0.6,
        forward_auth_ratio: 1.0,
        outpost_idle_rss_mb: 50,
      },
    };
    const tables: Table[] = [
      {
        title: `Proxying GET / (${UPSTREAM_BODY.length}-byte body), ${c} keep-alive connections`,
        columns: [
          "server",
          "req/s",
          "× nginx",
          "p50 ms",
          "p99 ms",
          "CPU %",
          "CPU µs/req",
          "× nginx (CPU)",
          "upstream µs/req",
        ],
        rows: rows.map((r) => [
          r.name,
          r.requests_per_s,
          r.ratio_to_nginx,
          r.p50_ms,
          r.p99_ms,
          r.cpu_percent ?? "—",
          r.cpu_us_per_request ?? "—",
          r.cpu_ratio_to_nginx ?? "—",
          r.upstream_cpu_us_per_request ?? "—",
        ]),
        notes: [
          `× nginx: the engines against the mean of the nginx runs before and after them (${engineAnchor.requests_per_s} req/s,` +
            ` spread ${engineAnchor.spread_percent} %); the outpost's rows are its median round (below); ${layout.note}`,
          "× nginx (CPU) = nginx's CPU per request ÷ this one's: above 1 means cheaper than nginx. A proxy well",
          "under 100 % CPU was held back by wrk and the upstream on the other CPU: trust the CPU ratio then.",
          `proxy outpost: ${outpostCommand}; goals: proxy mode ≥ 0.6× nginx, /auth/nginx ≥ 1.0× nginx's proxy rate`,
        ],
      },
      {
        title: `The outpost against nginx, round by round (${rounds.length} rounds, each between two nginx runs)`,
        columns: [
          "round",
          "nginx req/s (mean, spread %)",
          ...outpostFigures.flatMap((o) => [`${o.name} req/s`, "× nginx", "× nginx (CPU)"]),
        ],
        rows: rounds.map((_, r) => {
          const to = outpostFigures[0]?.byRound[r]?.anchor as Anchor;
          return [
            r + 1,
            `${to.requests_per_s} (${to.spread_percent})`,
            ...outpostFigures.flatMap((o) => {
              const x = o.byRound[r] as (typeof o.byRound)[0];
              return [x.figures.requests_per_s, x.ratio, x.cpu_ratio ?? "—"];
            }),
          ];
        }),
        notes: outpostFigures.map(
          (o) => `${o.name}: median ${o.median.ratio}× nginx (range ${outpostRange(o.name).join("–")}×)`,
        ),
      },
      {
        title: "One connection: latency added to the upstream's own",
        columns: ["server", "req/s", "p50 ms", "p99 ms", "added p50 ms", "added p99 ms"],
        rows: rows
          .filter((r) => r.one_connection)
          .map((r) => {
            const o = r.one_connection as Figures & { added_p50_ms: number; added_p99_ms: number };
            return [r.name, o.requests_per_s, o.p50_ms, o.p99_ms, o.added_p50_ms, o.added_p99_ms];
          }),
      },
      {
        title: "Memory (RSS, MB)",
        columns: ["process", "idle (1 s after start)", "after the load"],
        rows: (Object.keys(idle) as (keyof typeof idle)[]).map((k) => [
          k,
          idle[k]?.rss_mb ?? "—",
          after[k]?.rss_mb ?? "—",
        ]),
      },
    ];
    await Promise.all([
      upstream.stop(),
      nginx.stop(),
      fetchProxy.stop(),
      socketProxy.stop(),
      frontProxy.stop(),
      bunHttpProxy.stop(),
      nodeHttpProxy?.stop(),
    ]);
    return { results, tables };
  },
};

/** One round of the outpost's scenarios, and the nginx runs around it. */
interface Round {
  nginx: Anchor;
  figures: Map<string, Figures>;
}

/** nginx as the anchor for a stretch of the run: the mean of the nginx runs around it. */
interface Anchor {
  requests_per_s: number;
  cpu_us_per_request: number | undefined;
  /** How far apart those runs were: (highest − lowest) ÷ lowest rate. */
  spread_percent: number;
}

function bracket(...runs: Figures[]): Anchor {
  const rates = runs.map((f) => f.requests_per_s);
  const cpus = runs.flatMap((f) => (f.cpu_us_per_request === undefined ? [] : [f.cpu_us_per_request]));
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  return {
    requests_per_s: round(sum(rates) / rates.length),
    cpu_us_per_request: cpus.length > 0 ? round(sum(cpus) / cpus.length, 1) : undefined,
    spread_percent: round(((Math.max(...rates) - Math.min(...rates)) / Math.min(...rates)) * 100),
  };
}

/** Rounds of the outpost's scenarios (GATEHOUSE_BENCH_PROXY_ROUNDS, default 3). */
function outpostRounds(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.GATEHOUSE_BENCH_PROXY_ROUNDS;
  if (raw === undefined || raw === "") return 3;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`GATEHOUSE_BENCH_PROXY_ROUNDS must be a whole number ≥ 1, not "${raw}"`);
  return n;
}

function nginxVersion(): string {
  return /nginx\/([\d.]+)/.exec(Bun.spawnSync(["nginx", "-v"]).stderr.toString())?.[1] ?? "unknown";
}
