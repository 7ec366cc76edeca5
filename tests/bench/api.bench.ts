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
import {
  type AnchorResult,
  type BackendMemory,
  IDLE_RSS_GOAL_MB,
  mean,
  report,
  type ScenarioResult,
} from "./api-report.ts";
import { onCleanup } from "./cleanup.ts";
import { type LoadOptions, type LoadResult, measure, wrkVersion } from "./load.ts";
import { type ProcessMemory, processMemory, round } from "./report.ts";
import { seedUsers } from "./seed-users.ts";
import type { BenchSettings, BenchSuite } from "./suite.ts";

const USERS = 10_000;
const GROUPS = 5;
/** How long the core sits after it is ready before its idle memory is read. */
const SETTLE_MS = 3_000; // past the full GC the core runs 2 s after start

interface Scenario {
  name: string;
  path: string;
  authenticated: boolean;
  /** The core's memory is read after this scenario's load. */
  isList?: boolean;
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
    isList: true,
    check: (body) => {
      const page = body as { pagination?: { count?: number }; results?: unknown[] };
      // The seeded users, akadmin and the embedded outposts' (LDAP, RADIUS, proxy) service accounts.
      const want = USERS + 4;
      if (page.pagination?.count !== want) return `count ${page.pagination?.count}, want ${want}`;
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

interface BackendRun {
  backend: Backend;
  loads: LoadResult[];
  memory: BackendMemory;
  seedMs: number;
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

    // The anchor runs before each store's runs and after the last, so each store's ratios rest on
    // anchor figures taken minutes apart at most.
    const anchor = await startAnchor();
    const measureAnchor = async (when: string) => {
      console.log(`anchor: bare Elysia route (${when})`);
      return measure(load(anchor.url));
    };
    const anchorRuns = [await measureAnchor("first")];
    const runs: BackendRun[] = [];
    for (const backend of backends) {
      runs.push(await runBackend(backend, settings, load));
      anchorRuns.push(await measureAnchor(`after ${backend}`));
    }
    const anchorMemory = processMemory(anchor.pid);
    await anchor.stop();

    const anchors: AnchorResult[] = runs.map((run, i) => {
      const pair: [LoadResult, LoadResult] = [anchorRuns[i] as LoadResult, anchorRuns[i + 1] as LoadResult];
      return {
        backend: run.backend,
        requestsPerSecond: mean(pair.map((r) => r.requestsPerSecond)),
        runs: pair,
      };
    });
    const scenarios: ScenarioResult[] = runs.flatMap((run, i) =>
      run.loads.map((r, k) => {
        const scenario = SCENARIOS[k] as Scenario;
        const anchorRps = (anchors[i] as AnchorResult).requestsPerSecond;
        return {
          backend: run.backend,
          scenario: scenario.name,
          path: scenario.path,
          requests_per_s: round(r.requestsPerSecond),
          ratio_to_anchor: round(r.requestsPerSecond / anchorRps, 4),
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
      users: USERS,
      groups: GROUPS,
      wrk,
      anchors,
      anchorMemory,
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
): Promise<BackendRun> {
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
    const fresh = await install.start();
    const idle = await idleMemory(fresh);
    console.log(`${backend}: core ready, idle RSS ${idle?.rss_mb ?? "?"} MB; seeding ${USERS} users`);
    const seeded = await install.withStore((store) => seedUsers(store, { users: USERS, groups: GROUPS }));
    console.log(`${backend}: seeded in ${seeded.ms} ms (${seeded.memberships} memberships); restarting`);
    await stopCleanly(fresh);

    const core = await install.start();
    const idleSeeded = await idleMemory(core);
    const headers = { authorization: `Bearer ${token}` };
    const loads: LoadResult[] = [];
    let afterList: ProcessMemory | undefined;
    for (const scenario of SCENARIOS) {
      const url = `${core.url}${scenario.path}`;
      const scenarioHeaders = scenario.authenticated ? headers : undefined;
      await probe(core, url, scenario, scenarioHeaders);
      console.log(`${backend}: ${scenario.name}`);
      loads.push(await measure(load(url, scenarioHeaders)));
      if (scenario.isList) afterList = processMemory(core.proc.pid);
    }
    const afterAll = processMemory(core.proc.pid);
    await stopCleanly(core);
    return {
      backend,
      loads,
      memory: {
        backend,
        idle_after_start: idle,
        idle_after_restart_with_users: idleSeeded,
        after_list_load: afterList,
        after_all_load: afterAll,
      },
      seedMs: seeded.ms,
    };
  } finally {
    await dispose();
  }
}

/** The core's memory once it has sat idle for a moment after becoming ready. */
async function idleMemory(core: CoreProcess): Promise<ProcessMemory | undefined> {
  await Bun.sleep(SETTLE_MS);
  return processMemory(core.proc.pid);
}

async function stopCleanly(core: CoreProcess): Promise<void> {
  const code = await core.stop();
  if (code !== 0) throw core.failure(`exited with ${code} when stopped`);
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
