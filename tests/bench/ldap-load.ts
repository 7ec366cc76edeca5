/**
 * The LDAP load driver, run as its own process by ldap.bench.ts: `bun ldap-load.ts [LoadJob JSON]` (else the JSON on stdin),
 * printing one JSON line (LoadReport). Raw BER over Bun sockets (ldap-ber.ts), one request in flight
 * per connection, many connections:
 * - `bind`: every connection binds the same DN and password again and again;
 * - `search`: every connection binds once, then runs the given searches round-robin;
 * - `first-bind`: one fresh connection per DN, one bind each, one after another — the latency of each.
 * Only operations that complete inside the measured window count; the warm-up before it is discarded.
 * The report includes the driver's own CPU use, so a run where the client was the bottleneck shows.
 */
import { readFileSync } from "node:fs";
import {
  bindRequest,
  MessageReader,
  OP_BIND_RESPONSE,
  OP_SEARCH_DONE,
  OP_SEARCH_ENTRY,
  type SearchSpec,
  searchRequest,
  type Template,
} from "./ldap-ber.ts";

export type LoadJob =
  | {
      mode: "bind";
      port: number;
      /** The server's process, whose CPU time the report includes (Linux /proc). */
      serverPid?: number;
      connections: number;
      seconds: number;
      warmupSeconds: number;
      dn: string;
      password: string;
    }
  | {
      mode: "search";
      port: number;
      serverPid?: number;
      connections: number;
      seconds: number;
      warmupSeconds: number;
      dn: string;
      password: string;
      searches: SearchSpec[];
      /** Entries each search must return (checked on every search; a mismatch counts as an error). */
      expectEntries: number;
    }
  | { mode: "first-bind"; port: number; dns: string[]; password: string };

export interface LoadReport {
  ops: number;
  seconds: number;
  ops_per_s: number;
  entries: number;
  entries_per_s: number;
  errors: number;
  /** The first few failures, for the log. */
  error_samples: string[];
  bytes_per_op: number;
  latency_ms: { p50: number; p90: number; p99: number; max: number };
  /** The driver's CPU time over the measured window, as % of one core. */
  client_cpu_percent: number;
  /** The server's CPU time over the measured window (from /proc), as % of one core. */
  server_cpu_percent?: number;
  /** first-bind: each bind's latency in order. */
  latencies_ms?: number[];
}

/** Latency histogram: 10 µs buckets up to 2 s. */
class Histogram {
  private readonly buckets = new Uint32Array(200_001);
  count = 0;
  max = 0;
  add(ms: number): void {
    const i = Math.min(200_000, Math.round(ms * 100));
    this.buckets[i] = (this.buckets[i] as number) + 1;
    this.count++;
    if (ms > this.max) this.max = ms;
  }
  percentile(p: number): number {
    const target = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i] as number;
      if (seen >= target && seen > 0) return i / 100;
    }
    return 0;
  }
}

interface Conn {
  send(t: Template): void;
  close(): void;
  /** Resolves on the next complete operation: its LDAP result code and entry count. */
  onDone: ((code: number, entries: number, bytes: number) => void) | undefined;
}

function connect(port: number): Promise<Conn> {
  let id = 0;
  let entries = 0;
  let bytes = 0;
  let pending: Buffer | undefined;
  const conn: Conn = { send() {}, close() {}, onDone: undefined };
  const reader = new MessageReader((op, code, size) => {
    bytes += size;
    if (op === OP_SEARCH_ENTRY) {
      entries++;
      return;
    }
    const done = conn.onDone;
    const n = entries;
    const b = bytes;
    entries = 0;
    bytes = 0;
    if (op !== OP_BIND_RESPONSE && op !== OP_SEARCH_DONE) code = 1000 + op; // unexpected (notice of disconnection, …)
    done?.(code, n, b);
  });
  return new Promise((resolve, reject) => {
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(socket) {
          conn.send = (t) => {
            id = (id % 127) + 1;
            t.bytes[t.idOffset] = id;
            const written = socket.write(t.bytes);
            if (written < t.bytes.length) pending = Buffer.from(t.bytes.subarray(Math.max(0, written)));
          };
          conn.close = () => socket.end();
          resolve(conn);
        },
        data(_socket, chunk) {
          reader.push(chunk);
        },
        drain(socket) {
          if (!pending) return;
          const written = socket.write(pending);
          pending =
            written < pending.length ? Buffer.from(pending.subarray(Math.max(0, written))) : undefined;
        },
        close() {
          conn.onDone?.(2000, 0, 0);
        },
        error(_socket, err) {
          reject(err);
        },
        connectError(_socket, err) {
          reject(err);
        },
      },
    }).catch(reject);
  });
}

function once(conn: Conn, t: Template): Promise<{ code: number; entries: number; bytes: number }> {
  return new Promise((resolve) => {
    conn.onDone = (code, entries, bytes) => {
      conn.onDone = undefined;
      resolve({ code, entries, bytes });
    };
    conn.send(t);
  });
}

async function throughput(job: Extract<LoadJob, { mode: "bind" | "search" }>): Promise<LoadReport> {
  const bind = bindRequest(job.dn, job.password);
  const searches = job.mode === "search" ? job.searches.map(searchRequest) : [];
  const conns = await Promise.all(Array.from({ length: job.connections }, () => connect(job.port)));
  const errors: string[] = [];
  let errorCount = 0;
  // One bind before the load: on the outpost it runs the flow and fills the credential cache, so the
  // connections' binds that follow are all cached ones (16 first binds at once would run 16 flows).
  const first = await once(conns[0] as Conn, bind);
  if (first.code !== 0) throw new Error(`the first bind as ${job.dn} answered ${first.code}`);
  if (job.mode === "search")
    for (const c of conns) {
      const r = await once(c, bind);
      if (r.code !== 0) throw new Error(`bind as ${job.dn} before searching answered ${r.code}`);
    }

  const hist = new Histogram();
  let ops = 0;
  let entries = 0;
  let bytes = 0;
  const start = performance.now();
  const measureFrom = start + job.warmupSeconds * 1000;
  const measureTo = measureFrom + job.seconds * 1000;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  let next = 0;

  const drive = (c: Conn) =>
    new Promise<void>((finish) => {
      let sentAt = 0;
      const fire = () => {
        const now = performance.now();
        if (now >= measureTo) {
          c.onDone = undefined;
          finish();
          return;
        }
        sentAt = now;
        if (searches.length > 0) {
          next = (next + 1) % searches.length;
          c.send(searches[next] as Template);
        } else c.send(bind);
      };
      c.onDone = (code, n, b) => {
        const now = performance.now();
        if (now >= measureFrom && now < measureTo) {
          if (code !== 0 || (job.mode === "search" && n !== job.expectEntries)) {
            errorCount++;
            if (errors.length < 5) errors.push(`result ${code}, ${n} entries`);
          } else {
            ops++;
            entries += n;
            bytes += b;
            hist.add(now - sentAt);
          }
        }
        if (code === 2000) {
          finish(); // the server closed the connection
          return;
        }
        fire();
      };
      fire();
    });

  let serverFrom: { at: number; cpu: number | undefined } | undefined;
  let serverTo: { at: number; cpu: number | undefined } | undefined;
  const cpuTimer = setTimeout(() => {
    cpuAtStart = process.cpuUsage();
    serverFrom = { at: performance.now(), cpu: job.serverPid ? cpuSeconds(job.serverPid) : undefined };
  }, measureFrom - start);
  const endTimer = setTimeout(() => {
    serverTo = { at: performance.now(), cpu: job.serverPid ? cpuSeconds(job.serverPid) : undefined };
  }, measureTo - start);
  await Promise.all(conns.map(drive));
  clearTimeout(cpuTimer);
  clearTimeout(endTimer);
  serverTo ??= { at: performance.now(), cpu: job.serverPid ? cpuSeconds(job.serverPid) : undefined };
  const cpu = process.cpuUsage(cpuAtStart);
  for (const c of conns) c.close();
  const seconds = job.seconds;
  return {
    ops,
    seconds,
    ops_per_s: ops / seconds,
    entries,
    entries_per_s: entries / seconds,
    errors: errorCount,
    error_samples: errors,
    bytes_per_op: ops > 0 ? Math.round(bytes / ops) : 0,
    latency_ms: {
      p50: hist.percentile(50),
      p90: hist.percentile(90),
      p99: hist.percentile(99),
      max: Math.round(hist.max * 100) / 100,
    },
    client_cpu_percent: Math.round(((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 1000) / 10,
    ...(serverFrom?.cpu !== undefined &&
      serverTo?.cpu !== undefined && {
        server_cpu_percent:
          Math.round(((serverTo.cpu - serverFrom.cpu) / ((serverTo.at - serverFrom.at) / 1000)) * 1000) / 10,
      }),
  };
}

const CLOCK_TICKS = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

/** CPU time (user + system, all threads) of a process so far, in seconds; undefined if it is gone. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

async function firstBinds(job: Extract<LoadJob, { mode: "first-bind" }>): Promise<LoadReport> {
  const hist = new Histogram();
  const latencies: number[] = [];
  const errors: string[] = [];
  let errorCount = 0;
  const started = performance.now();
  for (const dn of job.dns) {
    const conn = await connect(job.port);
    const t0 = performance.now();
    const r = await once(conn, bindRequest(dn, job.password));
    const ms = performance.now() - t0;
    conn.close();
    if (r.code !== 0) {
      errorCount++;
      if (errors.length < 5) errors.push(`${dn}: result ${r.code}`);
      continue;
    }
    hist.add(ms);
    latencies.push(Math.round(ms * 100) / 100);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    ops: latencies.length,
    seconds,
    ops_per_s: latencies.length / seconds,
    entries: 0,
    entries_per_s: 0,
    errors: errorCount,
    error_samples: errors,
    bytes_per_op: 0,
    latency_ms: {
      p50: hist.percentile(50),
      p90: hist.percentile(90),
      p99: hist.percentile(99),
      max: Math.round(hist.max * 100) / 100,
    },
    client_cpu_percent: 0,
    latencies_ms: latencies,
  };
}

if (import.meta.main) {
  const job = JSON.parse(process.argv[2] ?? (await Bun.stdin.text())) as LoadJob;
  const report = job.mode === "first-bind" ? await firstBinds(job) : await throughput(job);
  console.log(JSON.stringify(report));
  process.exit(0);
}
