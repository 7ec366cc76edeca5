/**
 * The processes the `proxy` suite measures, each in its own process and optionally pinned to CPUs: the
 * upstream app (tests/support/upstream.ts), the Bun-native `fetch` proxy, the proxy outpost's own
 * socket client (outposts/proxy/http1.ts) behind Bun.serve or behind the outpost's own HTTP front
 * (outposts/proxy/front.ts), and `http-proxy` (in Bun or Node). nginx comes from tests/support/reverse-proxies.ts. Also the CPU time a process (and its
 * children: nginx's workers) has used, for CPU cost per request.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { stopProcess } from "../support/process.ts";
import { onCleanup } from "./cleanup.ts";

const READY_TIMEOUT_MS = 10_000;
const UPSTREAM = resolve(import.meta.dir, "../support/upstream.ts");
const FETCH_PROXY = resolve(import.meta.dir, "proxy-fetch-server.ts");
const SOCKET_PROXY = resolve(import.meta.dir, "proxy-socket-server.ts");
const FRONT_PROXY = resolve(import.meta.dir, "proxy-front-server.ts");
const HTTP_PROXY = resolve(import.meta.dir, "proxy-http-proxy-server.mjs");

export interface Child {
  /** http://127.0.0.1:PORT */
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts `argv` (on `cpus` with taskset) and waits for its `listening http://…` line. */
async function startListening(name: string, argv: string[], cpus: string | undefined): Promise<Child> {
  const proc = Bun.spawn(cpus ? ["taskset", "-c", cpus, ...argv] : argv, {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "inherit",
  });
  const stop = onCleanup(() => stopProcess(proc));
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const timeout = setTimeout(() => proc.kill("SIGKILL"), READY_TIMEOUT_MS);
  try {
    for (;;) {
      const match = /listening (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (match?.[1]) {
        // Keep draining stdout so the child never blocks on a full pipe.
        void (async () => {
          while (!(await reader.read().catch(() => ({ done: true }))).done);
        })();
        return { url: match[1], pid: proc.pid, stop };
      }
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    clearTimeout(timeout);
  }
  await stop();
  throw new Error(`${name} did not start (exit ${proc.exitCode}); output:\n${text}`);
}

export function startUpstreamProcess(cpus: string | undefined, port = 0): Promise<Child> {
  return startListening("upstream", [process.execPath, UPSTREAM, String(port)], cpus);
}

export function startFetchProxy(upstream: string, cpus: string | undefined): Promise<Child> {
  return startListening("Bun fetch proxy", [process.execPath, FETCH_PROXY, upstream], cpus);
}

export function startSocketProxy(upstream: string, cpus: string | undefined): Promise<Child> {
  return startListening("Bun socket proxy", [process.execPath, SOCKET_PROXY, upstream], cpus);
}

export function startFrontProxy(upstream: string, cpus: string | undefined): Promise<Child> {
  return startListening("Bun socket front", [process.execPath, FRONT_PROXY, upstream], cpus);
}

export function startHttpProxy(
  upstream: string,
  runtime: "bun" | "node",
  cpus: string | undefined,
): Promise<Child> {
  const exe = runtime === "bun" ? process.execPath : (Bun.which("node") ?? "node");
  return startListening(`http-proxy (${runtime})`, [exe, HTTP_PROXY, upstream], cpus);
}

export function nodeVersion(): string | undefined {
  if (!Bun.which("node")) return undefined;
  return Bun.spawnSync(["node", "--version"]).stdout.toString().trim();
}

const CLOCK_TICKS = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

/** CPU time (user + system, all threads) of `pid` and its direct children so far, in seconds. */
export function treeCpuSeconds(pid: number): number {
  let total = cpuSeconds(pid);
  for (const child of childPids(pid)) total += cpuSeconds(child);
  return total;
}

/** Direct children of `pid` (nginx's workers), from /proc. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
