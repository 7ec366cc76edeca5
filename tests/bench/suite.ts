/**
 * The shape of a benchmark suite and the settings every suite shares. A suite is a `<name>.bench.ts`
 * file in tests/bench exporting `suite`; run.ts finds it, runs it and writes results/<name>.json.
 */
import type { Table } from "./report.ts";

export interface SuiteOutput {
  /** Printed after the suite, in order. */
  tables: Table[];
  /** Written to results/<suite>.json. */
  results: Record<string, unknown>;
}

export interface BenchSuite {
  /** One line: what is measured against which anchor. */
  description: string;
  run(settings: BenchSettings): Promise<SuiteOutput>;
}

export interface BenchSettings {
  /** Seconds of measured load per scenario. */
  seconds: number;
  /** Seconds of discarded load before each measured run. */
  warmupSeconds: number;
  connections: number;
  threads: number;
  /** When set, servers under test run with Bun's CPU profiler and write their profiles here. */
  profileDir: string | undefined;
}

/** A suite cannot run on this machine (a tool is missing, …); its message says what to do. */
export class SetupError extends Error {}

/** Defaults, overridable with GATEHOUSE_BENCH_* variables (see README.md). */
export function benchSettings(env: NodeJS.ProcessEnv = process.env): BenchSettings {
  const num = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, not "${raw}"`);
    return n;
  };
  return {
    seconds: Math.max(1, num("GATEHOUSE_BENCH_SECONDS", 5)),
    warmupSeconds: num("GATEHOUSE_BENCH_WARMUP_SECONDS", 1),
    connections: Math.max(1, num("GATEHOUSE_BENCH_CONNECTIONS", 16)),
    threads: Math.max(1, num("GATEHOUSE_BENCH_THREADS", 1)),
    profileDir: env.GATEHOUSE_BENCH_PROFILE_DIR || undefined,
  };
}
