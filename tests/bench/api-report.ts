/** The api suite's tables and results/api.json, from the figures api.bench.ts collected. */
import type { Backend } from "../support/process.ts";
import type { LoadResult } from "./load.ts";
import { machineInfo, type ProcessMemory, round, type Table } from "./report.ts";
import type { BenchSettings, SuiteOutput } from "./suite.ts";

export const IDLE_RSS_GOAL_MB = 100;

export interface ScenarioResult {
  backend: Backend;
  scenario: string;
  path: string;
  requests_per_s: number;
  /** requests_per_s over the anchor's, the anchor measured just before and just after this store's runs. */
  ratio_to_anchor: number;
  latency_ms: LoadResult["latencyMs"];
  bytes_per_response: number;
  requests: number;
  socket_errors: Omit<LoadResult["errors"], "status" | "connect">;
}

export interface BackendMemory {
  backend: Backend;
  /** A fresh install (only akadmin), a second after it is ready. */
  idle_after_start: ProcessMemory | undefined;
  /** Restarted on the seeded store, a second after it is ready. */
  idle_after_restart_with_users: ProcessMemory | undefined;
  after_list_load: ProcessMemory | undefined;
  after_all_load: ProcessMemory | undefined;
}

export interface AnchorResult {
  backend: Backend;
  /** Mean of the anchor runs on either side of this store's runs. */
  requestsPerSecond: number;
  runs: [LoadResult, LoadResult];
}

export interface Collected {
  settings: BenchSettings;
  users: number;
  groups: number;
  wrk: string;
  anchors: AnchorResult[];
  anchorMemory: ProcessMemory | undefined;
  scenarios: ScenarioResult[];
  memory: BackendMemory[];
  seedMs: Record<string, number>;
  idleGoalMet: boolean | undefined;
}

export function report(c: Collected): SuiteOutput {
  const throughput: Table = {
    title: `Throughput (wrk, ${c.settings.connections} connections, ${c.settings.seconds} s per scenario)`,
    columns: ["store", "scenario", "req/s", "× anchor", "p50 ms", "p99 ms", "bytes/resp"],
    rows: c.anchors.flatMap((a) => [
      [
        a.backend,
        "anchor: bare Elysia route",
        round(a.requestsPerSecond),
        1,
        round(mean(a.runs.map((r) => r.latencyMs.p50)), 3),
        round(mean(a.runs.map((r) => r.latencyMs.p99)), 3),
        a.runs[0].bytesPerRequest,
      ],
      ...c.scenarios
        .filter((s) => s.backend === a.backend)
        .map((s) => [
          s.backend,
          s.scenario,
          s.requests_per_s,
          s.ratio_to_anchor,
          s.latency_ms.p50,
          s.latency_ms.p99,
          s.bytes_per_response,
        ]),
    ]),
    notes: c.anchors.map(
      (a) =>
        `${a.backend}: anchor ${round(a.runs[0].requestsPerSecond)} req/s before, ` +
        `${round(a.runs[1].requestsPerSecond)} after (drift ${round(drift(a) * 100, 1)}%); ratios use the mean`,
    ),
  };
  const mb = (m: ProcessMemory | undefined) => (m ? m.rss_mb : "n/a");
  const memory: Table = {
    title: `Core memory (RSS, MB; goal: idle on SQLite ≤ ${IDLE_RSS_GOAL_MB})`,
    columns: [
      "store",
      "idle, fresh install",
      "idle, restart with users",
      "after list load",
      "after all load",
      "peak",
    ],
    rows: c.memory.map((m) => [
      m.backend,
      mb(m.idle_after_start),
      mb(m.idle_after_restart_with_users),
      mb(m.after_list_load),
      mb(m.after_all_load),
      m.after_all_load?.peak_rss_mb ?? "n/a",
    ]),
    notes: [
      c.idleGoalMet === undefined
        ? "idle RSS not readable on this system (/proc missing)"
        : `idle RSS goal ${c.idleGoalMet ? "met" : "NOT met"}; the anchor process after load: ` +
          `${c.anchorMemory?.rss_mb ?? "n/a"} MB`,
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
        users: c.users,
        groups: c.groups,
        profiled: c.settings.profileDir !== undefined,
      },
      anchor: {
        name: "bare Elysia route (GET /x → {ok:true}) behind Bun.serve, own process",
        rss_mb_after_load: c.anchorMemory?.rss_mb,
        per_backend: c.anchors.map((a) => ({
          backend: a.backend,
          requests_per_s: round(a.requestsPerSecond),
          drift_percent: round(drift(a) * 100, 1),
          runs: a.runs.map((r) => ({ requests_per_s: round(r.requestsPerSecond), latency_ms: r.latencyMs })),
        })),
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

function drift(a: AnchorResult): number {
  return a.runs[1].requestsPerSecond / a.runs[0].requestsPerSecond - 1;
}

export function mean(values: number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}
