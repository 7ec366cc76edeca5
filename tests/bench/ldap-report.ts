/** The LDAP suite's tables and results/ldap.json. */
import type { LoadReport } from "./ldap-load.ts";
import { machineInfo, type ProcessMemory, round, type Table } from "./report.ts";
import type { BenchSettings, SuiteOutput } from "./suite.ts";

/** The issue's goals: cached bind and single-entry search at least half of slapd's rate. */
export const GOALS: Record<string, number> = { cached_bind: 0.5, search_one: 0.5 };

export interface ScenarioRun {
  key: string;
  name: string;
  unit: string;
  /** slapd before and after the outpost. */
  slapd: [LoadReport, LoadReport];
  outpost: LoadReport;
}

export interface ReportInput {
  settings: BenchSettings;
  users: number;
  groups: number;
  cpuNote: string;
  slapdVersion: string;
  slapdLoadMs: number;
  seedMs: number;
  outpostCommand: string;
  outpostStartMs: number;
  scenarios: ScenarioRun[];
  firstBind: { slapd: LoadReport; outpost: LoadReport; warmups: number };
  memory: Record<string, ProcessMemory | undefined>;
  attributes: string[];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

function firstBindStats(r: LoadReport, warmups: number) {
  const timed = (r.latencies_ms ?? []).slice(warmups);
  const sorted = [...timed].sort((a, b) => a - b);
  return {
    binds: timed.length,
    failures: r.errors,
    p50_ms: round(percentile(sorted, 50), 2),
    p99_ms: round(percentile(sorted, 99), 2),
    max_ms: round(sorted.at(-1) ?? 0, 2),
    latencies_ms: timed,
  };
}

export function buildReport(input: ReportInput): SuiteOutput {
  const scenarios = input.scenarios.map((s) => {
    const slapdRate = (s.slapd[0].ops_per_s + s.slapd[1].ops_per_s) / 2;
    const ratio = slapdRate > 0 ? s.outpost.ops_per_s / slapdRate : 0;
    // The driver's ceiling: what it could do at 100 % of its core, from the slapd runs.
    const ceilings = s.slapd.map((r) =>
      r.client_cpu_percent > 0 ? r.ops_per_s / (r.client_cpu_percent / 100) : 0,
    );
    const goal = GOALS[s.key];
    const cpuUs = (r: LoadReport) =>
      r.server_cpu_percent !== undefined && r.ops_per_s > 0
        ? (r.server_cpu_percent / 100 / r.ops_per_s) * 1e6
        : NaN;
    const slapdCpuUs = (cpuUs(s.slapd[0]) + cpuUs(s.slapd[1])) / 2;
    const outpostCpuUs = cpuUs(s.outpost);
    return {
      key: s.key,
      scenario: s.name,
      unit: s.unit,
      slapd_per_s: round(slapdRate),
      slapd_drift_percent: round(
        ((s.slapd[1].ops_per_s - s.slapd[0].ops_per_s) / s.slapd[0].ops_per_s) * 100,
        1,
      ),
      outpost_per_s: round(s.outpost.ops_per_s),
      ratio_to_slapd: round(ratio, 4),
      ...(goal !== undefined && { goal, goal_met: ratio >= goal }),
      entries_per_s: {
        slapd: round((s.slapd[0].entries_per_s + s.slapd[1].entries_per_s) / 2),
        outpost: round(s.outpost.entries_per_s),
      },
      bytes_per_op: { slapd: s.slapd[0].bytes_per_op, outpost: s.outpost.bytes_per_op },
      latency_ms: { slapd: s.slapd[0].latency_ms, outpost: s.outpost.latency_ms },
      errors: { slapd: s.slapd[0].errors + s.slapd[1].errors, outpost: s.outpost.errors },
      client_cpu_percent: {
        slapd: [s.slapd[0].client_cpu_percent, s.slapd[1].client_cpu_percent],
        outpost: s.outpost.client_cpu_percent,
      },
      // CPU time per operation: robust to the machine being shared (a starved server does fewer
      // operations, but each costs the same), so its ratio is the steadier one.
      server_cpu_us_per_op: { slapd: round(slapdCpuUs, 1), outpost: round(outpostCpuUs, 1) },
      cpu_ratio_to_slapd: outpostCpuUs > 0 ? round(slapdCpuUs / outpostCpuUs, 4) : undefined,
      server_cpu_percent: {
        slapd: [s.slapd[0].server_cpu_percent, s.slapd[1].server_cpu_percent],
        outpost: s.outpost.server_cpu_percent,
      },
      client_ceiling_per_s: round(Math.min(...ceilings)),
    };
  });
  const fbSlapd = firstBindStats(input.firstBind.slapd, input.firstBind.warmups);
  const fbOutpost = firstBindStats(input.firstBind.outpost, input.firstBind.warmups);
  const firstBind = {
    distinct_users: fbOutpost.binds,
    untimed_warmups: input.firstBind.warmups,
    slapd: fbSlapd,
    outpost: fbOutpost,
    // As a speed ratio like the others: slapd's latency over the outpost's (below 1: the outpost is slower).
    ratio_to_slapd_p50: fbOutpost.p50_ms > 0 ? round(fbSlapd.p50_ms / fbOutpost.p50_ms, 5) : 0,
    outpost_over_slapd_p50: fbSlapd.p50_ms > 0 ? round(fbOutpost.p50_ms / fbSlapd.p50_ms, 1) : 0,
  };
  const mem = input.memory;
  const results = {
    suite: "ldap",
    machine: machineInfo(
      `ldap-load.ts: raw BER over Bun sockets, its own process, one request in flight per connection`,
    ),
    settings: {
      seconds: input.settings.seconds,
      warmup_seconds: Math.max(1, input.settings.warmupSeconds),
      connections: input.settings.connections,
      connections_1000_entry_search: Math.min(4, input.settings.connections),
    },
    cpu_layout: input.cpuNote,
    data: {
      users: input.users,
      groups: input.groups,
      search_attributes: input.attributes,
      slapd: `OpenLDAP slapd ${input.slapdVersion}, back-mdb, 4 threads, {SSHA} userPassword, loaded by slapadd in ${input.slapdLoadMs} ms`,
      gatehouse: `core on SQLite seeded by seed-users.ts in ${input.seedMs} ms; outpost: ${input.outpostCommand}, listening ${input.outpostStartMs} ms after spawn`,
    },
    scenarios,
    first_bind: firstBind,
    memory: mem,
  };

  const main: Table = {
    title: `LDAP: Gatehouse outpost vs OpenLDAP slapd ${input.slapdVersion} (${input.users.toLocaleString("en")} users)`,
    columns: [
      "scenario",
      "slapd/s",
      "outpost/s",
      "× slapd",
      "goal",
      "outpost p50 ms",
      "p99 ms",
      "slapd p50 ms",
      "CPU µs/op slapd/outpost",
      "× slapd (CPU)",
      "server CPU % slapd/outpost",
      "client CPU %",
    ],
    rows: scenarios.map((s) => [
      s.scenario,
      s.slapd_per_s,
      s.outpost_per_s,
      s.ratio_to_slapd,
      s.goal === undefined ? "" : `≥ ${s.goal} ${s.goal_met ? "met" : "missed"}`,
      s.latency_ms.outpost.p50,
      s.latency_ms.outpost.p99,
      s.latency_ms.slapd.p50,
      `${s.server_cpu_us_per_op.slapd} / ${s.server_cpu_us_per_op.outpost}`,
      s.cpu_ratio_to_slapd ?? "?",
      `${s.server_cpu_percent.slapd.map((c) => c ?? "?").join(", ")} / ${s.server_cpu_percent.outpost ?? "?"}`,
      `${Math.max(...s.client_cpu_percent.slapd)}`,
    ]),
    notes: [
      `${input.cpuNote}; ${input.settings.connections} connections (4 for the 1,000-entry search)`,
      `slapd measured just before and just after the outpost in each scenario; drift ${scenarios.map((s) => `${s.key} ${s.slapd_drift_percent} %`).join(", ")}`,
      "× slapd (CPU): slapd's CPU time per operation over the outpost's — steadier than the rate when other work shares the machine",
      `load driver ceiling (ops/s at 100 % of its core, from the slapd runs): ${scenarios.map((s) => `${s.key} ≈ ${s.client_ceiling_per_s}`).join(", ")}`,
      `1,000-entry search, entries/s: slapd ${scenarios[2]?.entries_per_s.slapd}, outpost ${scenarios[2]?.entries_per_s.outpost}`,
      `errors: ${scenarios.map((s) => `${s.key} slapd ${s.errors.slapd} / outpost ${s.errors.outpost}`).join(", ")}`,
    ],
  };
  const latency: Table = {
    title: `First (uncached) bind, ${fbOutpost.binds} distinct users one after another`,
    columns: ["server", "p50 ms", "p99 ms", "max ms", "failures"],
    rows: [
      ["slapd ({SSHA})", fbSlapd.p50_ms, fbSlapd.p99_ms, fbSlapd.max_ms, fbSlapd.failures],
      [
        "outpost (bind flow + check_access, argon2id)",
        fbOutpost.p50_ms,
        fbOutpost.p99_ms,
        fbOutpost.max_ms,
        fbOutpost.failures,
      ],
    ],
    notes: [`outpost p50 is ${firstBind.outpost_over_slapd_p50}× slapd's`],
  };
  const memory: Table = {
    title: "Memory (VmRSS / VmHWM, MiB)",
    columns: ["process", "RSS", "peak"],
    rows: Object.entries(mem).map(([k, m]) => [
      k.replaceAll("_", " "),
      m?.rss_mb ?? "?",
      m?.peak_rss_mb ?? "?",
    ]),
  };
  return { tables: [main, latency, memory], results };
}
