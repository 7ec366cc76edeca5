/**
 * The REST API under load: GET /api/v3/core/users/?page_size=100 over 10,000 users and a
 * token-authenticated GET /api/v3/core/users/me/, on SQLite and PostgreSQL, each as a ratio to a bare
 * Elysia route measured in the same run; plus the core's idle RSS after start (goal on SQLite ≤ 100 MB).
 */
import { join } from "node:path";
import { postgresTestUrl } from "../../core/src/store/testing.ts";
import { randomSecret } from "../../shared/crypto.ts";
import { type Backend, type CoreProcess, Install } from "../support/process.ts";
import { startAnchor } from "./anchor.ts";
import { onCleanup } from "./cleanup.ts";
import { type LoadOptions, type LoadResult, measure, wrkVersion } from "./load.ts";
import { machineInfo, type ProcessMemory, processMemory, round, type Table } from "./report.ts";
import { seedUsers } from "./seed-users.ts";
import type { BenchSettings, BenchSuite, SuiteOutput } from "./suite.ts";

const USERS = 10_000;
const GROUPS = 5;
const IDLE_RSS_GOAL_MB = 100;
/** How long the core sits after it is ready before its idle memory is read. */
const SETTLE_MS = 1_000;

interface Scenario {
  name: string;
  path: string;
  authenticated: boolean;
  /** Checks one response before the load, so a broken endpoint is not measured as a fast one. */
  check(body: unknown): string | undefined;
}

const SCENARIOS: Scenario[] = [
  {
    name: "health (no store, no auth)",
    path: "/-/health/live/",
    authenticated: false,
    check: () => undefined,
  },
  {
    name: "users list, page_size=100",
    path: "/api/v3/core/users/?page_size=100",
    authenticated: true,
    check: (body) => {
      const page = body as { pagination?: { count?: number }; results?: unknown[] };
      if (page.pagination?.count !== USERS + 1) return `count ${page.pagination?.count}, want ${USERS + 1}`;
      if (page.results?.length !== 100) return `${page.results?.length} results, want 100`;
      return undefined;
    },
  },
  {
    name: "users/me (token)",
    path: "/api/v3/core/users/me/",
    authenticated: true,
    check: (body) => ((body as { user?: unknown }).user ? undefined : "no user in the answer"),
  },
];

interface ScenarioResult {
  backend: Backend;
  scenario: string;
  path: string;
  requests_per_s: number;
  ratio_to_anchor: number;
  latency_ms: LoadResult["latencyMs"];
  bytes_per_response: number;
  requests: number;
  socket_errors: Omit<LoadResult["errors"], "status" | "connect">;
}

interface BackendMemory {
  backend: Backend;
  idle_after_start: ProcessMemory | undefined;
  after_list_load: ProcessMemory | undefined;
  after_all_load: ProcessMemory | undefined;
}

export const suite: BenchSuite = {
  description: "REST API users list and users/me on SQLite and PostgreSQL vs a bare Elysia route",
  async run(settings) {
    const wrk = await wrkVersion();
    const backends: Backend[] = postgresTestUrl ? ["sqlite", "postgres"] : ["sqlite"];
    if (!postgresTestUrl) console.log("PostgreSQL skipped: set GATEHOUSE_TEST_POSTGRES_URL to include it.");
    const load = (url: string, headers?: Record<string, string>): LoadOptions => ({
      url,
      headers,
      seconds: settings.seconds,
      warmupSeconds: settings.warmupSeconds,
      connections: settings.connections,
      threads: settings.threads,
    });

    const anchor = await startAnchor();
    console.log("anchor: bare Elysia route (before)");
    const anchorBefore = await measure(load(anchor.url));
    const anchorMemory = processMemory(anchor.pid);

    const runs: { backend: Backend; loads: LoadResult[]; memory: BackendMemory; seedMs: number }[] = [];
    for (const backend of backends) runs.push(await runBackend(backend, settings, load));

    console.log("anchor: bare Elysia route (after)");
    const anchorAfter = await measure(load(anchor.url));
    await anchor.stop();

    const anchorRps = (anchorBefore.requestsPerSecond + anchorAfter.requestsPerSecond) / 2;
    const scenarios: ScenarioResult[] = runs.flatMap((run) =>
      run.loads.map((r, i) => {
        const scenario = SCENARIOS[i] as Scenario;
        return {
          backend: run.backend,
          scenario: scenario.name,
          path: scenario.path,
          requests_per_s: round(r.requestsPerSecond),
          ratio_to_anchor: round(r.requestsPerSecond / anchorRps, 3),
          latency_ms: r.latencyMs,
          bytes_per_response: r.bytesPerRequest,
          requests: r.requests,
          socket_errors: { read: r.errors.read, write: r.errors.write, timeout: r.errors.timeout },
        };
      }),
    );
    const memory = runs.map((r) => r.memory);
    const sqliteIdle = memory.find((m) => m.backend === "sqlite")?.idle_after_start?.rss_mb;
    return report({
      settings,
      wrk,
      anchor: {
        before: anchorBefore,
        after: anchorAfter,
        requestsPerSecond: anchorRps,
        memory: anchorMemory,
      },
      scenarios,
      memory,
      seedMs: Object.fromEntries(runs.map((r) => [r.backend, r.seedMs])),
      idleGoalMet: sqliteIdle === undefined ? undefined : sqliteIdle <= IDLE_RSS_GOAL_MB,
    });
  },
};

async function runBackend(
  backend: Backend,
  settings: BenchSettings,
  load: (url: string, headers?: Record<string, string>) => LoadOptions,
): Promise<{ backend: Backend; loads: LoadResult[]; memory: BackendMemory; seedMs: number }> {
  const token = `bench-${randomSecret()}`;
  const install = await Install.create(backend, {
    GATEHOUSE_BOOTSTRAP_TOKEN: token,
    GATEHOUSE_BOOTSTRAP_PASSWORD: randomSecret(),
    GATEHOUSE_LOG__LEVEL: "warn",
    // The core's own default pool size, not the 4 the end-to-end tests use.
    GATEHOUSE_POSTGRESQL__POOL_MAX: undefined,
    ...(settings.profileDir && {
      BUN_OPTIONS: `--cpu-prof --cpu-prof-md --cpu-prof-dir=${join(settings.profileDir, backend)}`,
    }),
  });
  const dispose = onCleanup(() => install.dispose());
  try {
    const core = await install.start();
    await Bun.sleep(SETTLE_MS);
    const idle = processMemory(core.proc.pid);
    console.log(`${backend}: core ready, idle RSS ${idle?.rss_mb ?? "?"} MB; seeding ${USERS} users`);
    const seeded = await install.withStore((store) => seedUsers(store, { users: USERS, groups: GROUPS }));
    console.log(`${backend}: seeded in ${seeded.ms} ms (${seeded.memberships} memberships)`);

    const headers = { authorization: `Bearer ${token}` };
    const loads: LoadResult[] = [];
    let afterList: ProcessMemory | undefined;
    for (const scenario of SCENARIOS) {
      const url = `${core.url}${scenario.path}`;
      const scenarioHeaders = scenario.authenticated ? headers : undefined;
      await probe(core, url, scenario, scenarioHeaders);
      console.log(`${backend}: ${scenario.name}`);
      loads.push(await measure(load(url, scenarioHeaders)));
      if (scenario.path.startsWith("/api/v3/core/users/?")) afterList = processMemory(core.proc.pid);
    }
    const afterAll = processMemory(core.proc.pid);
    const code = await core.stop();
    if (code !== 0) throw core.failure(`exited with ${code} when stopped`);
    return {
      backend,
      loads,
      memory: { backend, idle_after_start: idle, after_list_load: afterList, after_all_load: afterAll },
      seedMs: seeded.ms,
    };
  } finally {
    await dispose();
  }
}

async function probe(
  core: CoreProcess,
  url: string,
  scenario: Scenario,
  headers: Record<string, string> | undefined,
): Promise<void> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  const problem = res.ok ? scenario.check(body) : `status ${res.status}: ${text.slice(0, 300)}`;
  if (problem) throw core.failure(`answered ${scenario.path} wrongly (${problem})`);
}

interface Collected {
  settings: BenchSettings;
  wrk: string;
  anchor: { before: LoadResult; after: LoadResult; requestsPerSecond: number; memory?: ProcessMemory };
  scenarios: ScenarioResult[];
  memory: BackendMemory[];
  seedMs: Record<string, number>;
  idleGoalMet: boolean | undefined;
}

function report(c: Collected): SuiteOutput {
  const drift = c.anchor.after.requestsPerSecond / c.anchor.before.requestsPerSecond - 1;
  const throughput: Table = {
    title: `Throughput (wrk, ${c.settings.connections} connections, ${c.settings.seconds} s per scenario)`,
    columns: ["store", "scenario", "req/s", "× anchor", "p50 ms", "p99 ms", "bytes/resp"],
    rows: [
      ["-", "anchor: bare Elysia route", round(c.anchor.requestsPerSecond), 1, ...anchorLatency(c)],
      ...c.scenarios.map((s) => [
        s.backend,
        s.scenario,
        s.requests_per_s,
        s.ratio_to_anchor,
        s.latency_ms.p50,
        s.latency_ms.p99,
        s.bytes_per_response,
      ]),
    ],
    notes: [
      `anchor measured before and after: ${round(c.anchor.before.requestsPerSecond)} and ` +
        `${round(c.anchor.after.requestsPerSecond)} req/s (drift ${round(drift * 100, 1)}%); ratios use the mean`,
    ],
  };
  const mb = (m: ProcessMemory | undefined) => (m ? m.rss_mb : "n/a");
  const memory: Table = {
    title: `Core memory (RSS, MB; goal: idle on SQLite ≤ ${IDLE_RSS_GOAL_MB})`,
    columns: ["store", "idle after start", "after list load", "after all load", "peak"],
    rows: c.memory.map((m) => [
      m.backend,
      mb(m.idle_after_start),
      mb(m.after_list_load),
      mb(m.after_all_load),
      m.after_all_load?.peak_rss_mb ?? "n/a",
    ]),
    notes: [
      c.idleGoalMet === undefined
        ? "idle RSS not readable on this system (/proc missing)"
        : `idle RSS goal ${c.idleGoalMet ? "met" : "NOT met"}; anchor process RSS ${c.anchor.memory?.rss_mb ?? "n/a"} MB`,
    ],
  };
  return {
    tables: [throughput, memory],
    results: {
      suite: "api",
      machine: machineInfo(c.wrk),
      settings: {
        seconds: c.settings.seconds,
        warmup_seconds: c.settings.warmupSeconds,
        connections: c.settings.connections,
        threads: c.settings.threads,
        users: USERS,
        groups: GROUPS,
        profiled: c.settings.profileDir !== undefined,
      },
      anchor: {
        name: "bare Elysia route (GET /x → {ok:true}) behind Bun.serve, own process",
        requests_per_s: round(c.anchor.requestsPerSecond),
        before: {
          requests_per_s: round(c.anchor.before.requestsPerSecond),
          latency_ms: c.anchor.before.latencyMs,
        },
        after: {
          requests_per_s: round(c.anchor.after.requestsPerSecond),
          latency_ms: c.anchor.after.latencyMs,
        },
        drift_percent: round(drift * 100, 1),
        rss_mb: c.anchor.memory?.rss_mb,
      },
      scenarios: c.scenarios,
      memory: {
        goal_idle_rss_mb_sqlite: IDLE_RSS_GOAL_MB,
        goal_met: c.idleGoalMet,
        backends: c.memory,
      },
      seed_ms: c.seedMs,
    },
  };
}

function anchorLatency(c: Collected): number[] {
  const { before, after } = c.anchor;
  return [
    round((before.latencyMs.p50 + after.latencyMs.p50) / 2, 3),
    round((before.latencyMs.p99 + after.latencyMs.p99) / 2, 3),
    before.bytesPerRequest,
  ];
}
