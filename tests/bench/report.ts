/** What a suite reports: machine facts, process memory, readable tables and the results/<suite>.json file. */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join, resolve } from "node:path";

export const RESULTS_DIR = resolve(import.meta.dir, "results");

export interface MachineInfo {
  cpus: number;
  cpu_model: string;
  memory_mb: number;
  os: string;
  bun: string;
  load_generator: string;
  date: string;
}

export function machineInfo(loadGenerator: string): MachineInfo {
  const list = cpus();
  return {
    cpus: list.length,
    cpu_model: list[0]?.model.trim() ?? "unknown",
    memory_mb: Math.round(totalmem() / 2 ** 20),
    os: `${process.platform} ${release()}`,
    bun: Bun.version,
    load_generator: loadGenerator,
    date: new Date().toISOString(),
  };
}

export interface ProcessMemory {
  /** Resident set size now (VmRSS), MiB. */
  rss_mb: number;
  /** Highest resident set size so far (VmHWM), MiB. */
  peak_rss_mb: number;
}

/** A process's memory from /proc/<pid>/status (Linux); undefined elsewhere. */
export function processMemory(pid: number): ProcessMemory | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  const mib = (field: string) => Math.round((kib(field) / 1024) * 10) / 10;
  return { rss_mb: mib("VmRSS"), peak_rss_mb: mib("VmHWM") };
}

export interface Table {
  title: string;
  columns: string[];
  rows: (string | number)[][];
  notes?: string[];
}

export function formatTable(table: Table): string {
  const cells = [table.columns, ...table.rows.map((r) => r.map(String))];
  const widths = table.columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  // Text columns line up on the left, numbers on the right.
  const numeric = table.columns.map((_, i) => table.rows.every((r) => typeof r[i] === "number"));
  const line = (r: string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  const body = [line(table.columns), rule, ...table.rows.map((r) => line(r.map(String)))];
  return [`${table.title}`, ...body.map((l) => `  ${l}`), ...(table.notes ?? []).map((n) => `  ${n}`)].join(
    "\n",
  );
}

/** Writes results/<suite>.json (through a temporary file, so a failed run leaves the old one whole). */
export function writeResults(suite: string, data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${suite}.json`);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(data, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  return path;
}

/** Rounds for display and for the JSON file: figures that drift run to run need no more digits. */
export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
