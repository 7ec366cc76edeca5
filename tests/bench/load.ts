/**
 * Load generation with `wrk` (Debian package `wrk`) in its own process, so the load generator never
 * shares an event loop with the server it measures. Each measurement is a warm-up run (discarded) and
 * a timed run; only 127.0.0.1 is ever a target.
 */
import { resolve } from "node:path";
import { onCleanup } from "./cleanup.ts";
import { SetupError } from "./suite.ts";

const REPORT_SCRIPT = resolve(import.meta.dir, "wrk-report.lua");
const FORM_SCRIPT = resolve(import.meta.dir, "wrk-form.lua");

export const WRK_MISSING = `wrk is not installed; the benchmarks use it to generate load.
Install it with:  sudo apt-get install wrk   (Debian/Ubuntu; macOS: brew install wrk)`;

export interface LoadOptions {
  url: string;
  headers?: Record<string, string>;
  /** POST this form body instead of a GET (wrk-form.lua). */
  form?: FormLoad;
  /** Seconds of measured load. */
  seconds: number;
  /** Seconds of load before the measured run, discarded. */
  warmupSeconds: number;
  connections: number;
  threads: number;
  /** Run wrk on these CPUs only (taskset -c), away from the server under test. */
  cpus?: string;
}

export interface FormLoad {
  /** application/x-www-form-urlencoded; with `codesFile`, "{code}" stands for the next code. */
  body: string;
  /** One code a line, each sent once; the run ends when they are used up (wrk-form.lua). */
  codesFile?: string;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  bytesPerRequest: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
}

interface WrkReport {
  requests: number;
  duration_us: number;
  bytes: number;
  errors: LoadResult["errors"];
  latency_us: LoadResult["latencyMs"];
}

/** wrk's version line; throws WRK_MISSING when it is not on PATH. */
export async function wrkVersion(): Promise<string> {
  if (!Bun.which("wrk")) throw new SetupError(WRK_MISSING);
  const proc = Bun.spawn(["wrk", "--version"], { stdout: "pipe", stderr: "pipe" });
  const [out] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  return out.split("\n")[0]?.replace(/\s*Copyright.*$/, "") ?? "wrk";
}

export async function measure(options: LoadOptions): Promise<LoadResult> {
  const target = new URL(options.url);
  if (target.hostname !== "127.0.0.1") throw new Error(`refusing to load ${target.host}: only 127.0.0.1`);
  if (options.warmupSeconds > 0) await runWrk(options, options.warmupSeconds);
  const report = await runWrk(options, options.seconds);
  const seconds = report.duration_us / 1e6;
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    requests: report.requests,
    seconds,
    requestsPerSecond: report.requests / seconds,
    bytesPerRequest: report.requests > 0 ? Math.round(report.bytes / report.requests) : 0,
    latencyMs: {
      p50: ms(report.latency_us.p50),
      p90: ms(report.latency_us.p90),
      p99: ms(report.latency_us.p99),
      max: ms(report.latency_us.max),
      mean: ms(report.latency_us.mean),
    },
    errors: report.errors,
  };
}

async function runWrk(options: LoadOptions, seconds: number): Promise<WrkReport> {
  const args = [
    ...(options.cpus ? ["taskset", "-c", options.cpus] : []),
    "wrk",
    `--threads=${options.threads}`,
    `--connections=${options.connections}`,
    `--duration=${seconds}s`,
    "--timeout=10s",
    `--script=${options.form ? FORM_SCRIPT : REPORT_SCRIPT}`,
  ];
  for (const [name, value] of Object.entries(options.headers ?? {}))
    args.push("--header", `${name}: ${value}`);
  args.push(options.url);
  const form = options.form && {
    WRK_REPORT_SCRIPT: REPORT_SCRIPT,
    WRK_FORM_BODY: options.form.body,
    WRK_FORM_CODES: options.form.codesFile ?? "",
    WRK_THREADS: String(options.threads),
  };
  const proc = Bun.spawn(args, {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    ...(form && { env: { ...process.env, ...form } }),
  });
  const stop = onCleanup(() => proc.kill("SIGKILL"));
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  await stop();
  const line = stdout.split("\n").find((l) => l.startsWith("WRK_RESULT "));
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}):\n${stdout}\n${stderr}`);
  const report = JSON.parse(line.slice("WRK_RESULT ".length)) as WrkReport;
  const { connect, status } = report.errors;
  if (connect > 0 || status > 0) {
    throw new Error(
      `${options.url}: ${status} responses were not 2xx/3xx and ${connect} connections failed; ` +
        "the scenario is broken, not slow",
    );
  }
  return report;
}
