/**
 * The real core as a child process, for end-to-end tests: `bun core/src/main.ts …` on a throwaway data
 * directory (and a throwaway PostgreSQL database when asked), driven over HTTP and its command line.
 * Everything started here is tracked, so `disposeAll()` (and, as a last resort, process exit) stops
 * children and removes temporary data even when a test fails half-way.
 */

import { test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { openStore, type Store } from "../../core/src/store/index.ts";
import { createTestDatabase, postgresTestUrl } from "../../core/src/store/testing.ts";

const MAIN = resolve(import.meta.dir, "../../core/src/main.ts");
const READY_TIMEOUT_MS = 20_000;
/** For hooks and tests that start or stop processes: bun's 5 s default is tight on a busy machine. */
export const PROCESS_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 15_000;

export type Backend = "sqlite" | "postgres";
/** Environment overrides; `undefined` removes a variable the install would otherwise set. */
export type Env = Record<string, string | undefined>;

/** A free TCP port on 127.0.0.1 (the OS picks one; it is released before it is returned). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

/** Asks a child process to stop (SIGTERM), kills it if it has not after `graceMs`, and waits for it. */
export async function stopProcess(proc: Pick<Subprocess, "kill" | "exited">, graceMs = 5_000): Promise<void> {
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

/** Lines of a child's stdout or stderr, collected as they arrive. */
class Lines {
  readonly lines: string[] = [];
  private partial = "";
  private waiters: (() => void)[] = [];
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = this.read(stream);
  }

  private async read(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) this.push(decoder.decode(chunk, { stream: true }));
    const rest = this.partial + decoder.decode();
    this.partial = "";
    this.push(rest ? `${rest}\n` : "");
  }

  private push(text: string): void {
    const parts = (this.partial + text).split("\n");
    this.partial = parts.pop() ?? "";
    this.lines.push(...parts);
    for (const wake of this.waiters.splice(0)) wake();
  }

  get text(): string {
    return this.lines.join("\n");
  }

  /** Resolves on the next line (or end of stream). */
  next(): Promise<void> {
    return new Promise((wake) => this.waiters.push(wake));
  }
}

/** A log line of the core: one JSON object per line on stdout. */
export interface LogRecord {
  ts: string;
  level: string;
  msg: string;
  [field: string]: unknown;
}

export class CoreProcess {
  readonly stdout: Lines;
  readonly stderr: Lines;
  readonly exited: Promise<number>;
  private exitCode: number | undefined;

  constructor(
    readonly proc: Subprocess<"ignore", "pipe", "pipe">,
    /** http://127.0.0.1:PORT */
    readonly url: string,
    /** 127.0.0.1:PORT, for GATEHOUSE_LISTEN__HTTP */
    readonly listen: string,
  ) {
    this.stdout = new Lines(proc.stdout);
    this.stderr = new Lines(proc.stderr);
    this.exited = proc.exited.then(async (code) => {
      await Promise.all([this.stdout.done, this.stderr.done]);
      this.exitCode = code;
      return code;
    });
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /**
   * Calls the core's API (/api/v3) with `token`: a JSON body in, the parsed JSON answer out (undefined
   * when empty); any other status than 2xx throws with the core's output attached.
   */
  api(token: string) {
    return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${this.url}/api/v3${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      if (!res.ok) throw this.failure(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
      return (text ? JSON.parse(text) : undefined) as T;
    };
  }

  /** Everything written so far, stdout then stderr. */
  get output(): string {
    return `${this.stdout.text}\n${this.stderr.text}`;
  }

  /** stdout's JSON log lines (the welcome text around them is skipped). */
  logs(): LogRecord[] {
    return this.stdout.lines.flatMap((line) => {
      if (!line.startsWith("{")) return [];
      try {
        return [JSON.parse(line) as LogRecord];
      } catch {
        return [];
      }
    });
  }

  /** Waits for a stdout line matching `pattern`; fails if the process exits or time runs out first. */
  async waitForLine(pattern: RegExp, timeoutMs = READY_TIMEOUT_MS): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.stdout.lines) {
        const m = pattern.exec(line);
        if (m) return m;
      }
      if (!this.running) throw this.failure(`exited before printing ${pattern}`);
      if (Date.now() > deadline) throw this.failure(`did not print ${pattern}`);
      await Promise.race([this.stdout.next(), this.exited, Bun.sleep(100)]);
    }
  }

  /** Polls /-/health/ready/ until it answers 204. */
  async waitReady(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) throw this.failure("exited before it was ready");
      try {
        const res = await fetch(`${this.url}/-/health/ready/`, { signal: AbortSignal.timeout(1000) });
        if (res.status === 204) return;
      } catch {
        // not listening yet
      }
      await Bun.sleep(50);
    }
    throw this.failure(`was not ready within ${timeoutMs} ms`);
  }

  /** Sends `signal` (SIGTERM by default) and resolves with the exit code; SIGKILLs if it hangs. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number> {
    if (this.running) this.proc.kill(signal);
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), EXIT_TIMEOUT_MS);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  failure(what: string): Error {
    return new Error(`core ${what}; output:\n${this.output}`);
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** One installation: a data directory, and a PostgreSQL database when the backend is postgres. */
export class Install {
  private readonly running = new Set<CoreProcess>();

  private constructor(
    readonly backend: Backend,
    readonly dataDir: string,
    /** Environment every process of this install gets (store location, base settings). */
    readonly env: Env,
    private readonly dropDatabase: (() => Promise<void>) | undefined,
  ) {}

  static async create(backend: Backend = "sqlite", env: Env = {}): Promise<Install> {
    const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-e2e-"));
    tracked.dirs.add(dataDir);
    let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
    if (backend === "postgres") {
      if (!postgresTestUrl) throw new Error("the postgres backend needs GATEHOUSE_TEST_POSTGRES_URL");
      database = await createTestDatabase(postgresTestUrl);
    }
    const install = new Install(
      backend,
      dataDir,
      {
        GATEHOUSE_DATA_DIR: dataDir,
        // The embedded LDAP outpost runs in every core; let the OS pick its ports so cores don't collide.
        GATEHOUSE_LISTEN__LDAP: "127.0.0.1:0",
        GATEHOUSE_LISTEN__LDAPS: "127.0.0.1:0",
        GATEHOUSE_LISTEN__RADIUS: "127.0.0.1:0",
        ...(database && { GATEHOUSE_POSTGRESQL__URL: database.url, GATEHOUSE_POSTGRESQL__POOL_MAX: "4" }),
        ...env,
      },
      database?.drop,
    );
    tracked.installs.add(install);
    return install;
  }

  /** The SQLite file (meaningful on the sqlite backend). */
  get sqlitePath(): string {
    return join(this.dataDir, "gatehouse.db");
  }

  /** The PostgreSQL URL (on the postgres backend). */
  get postgresUrl(): string | undefined {
    return this.env.GATEHOUSE_POSTGRESQL__URL;
  }

  /**
   * Starts `gatehouse serve` on a free port of 127.0.0.1 and waits until it is ready. `ready: false`
   * returns at once (for a process expected to fail); `port` picks the port (when a config file names it).
   */
  async start(options: { env?: Env; port?: number; ready?: boolean } = {}): Promise<CoreProcess> {
    const port = options.port ?? (await freePort());
    const listen = `127.0.0.1:${port}`;
    const proc = Bun.spawn([process.execPath, MAIN, "serve"], {
      cwd: this.dataDir,
      env: childEnv({ GATEHOUSE_LISTEN__HTTP: listen, ...this.env, ...options.env }),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const core = new CoreProcess(proc, `http://${listen}`, listen);
    this.running.add(core);
    tracked.cores.add(core);
    void core.exited.then(() => {
      this.running.delete(core);
      tracked.cores.delete(core);
    });
    if (options.ready !== false) await core.waitReady();
    return core;
  }

  /** Runs a one-shot command (`migrate`, `create-admin …`) against this install and waits for it. */
  async run(args: string[], options: { env?: Env; stdin?: string } = {}): Promise<CliResult> {
    const proc = Bun.spawn([process.execPath, MAIN, ...args], {
      cwd: this.dataDir,
      env: childEnv({ ...this.env, ...options.env }),
      stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => proc.kill("SIGKILL"), EXIT_TIMEOUT_MS);
    try {
      const [code, stdout, stderr] = await Promise.all([
        proc.exited,
        new Response(proc.stdout).text(),
        new Response(proc.stderr).text(),
      ]);
      return { code, stdout, stderr };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Opens this install's store from the test process (as another process would), for `fn`. */
  async withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    const url = this.postgresUrl;
    const store = openStore(
      url ? { kind: "postgres", url, poolMax: 1 } : { kind: "sqlite", path: this.sqlitePath },
    );
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  }

  /** A user's stored password hash (null when none is set); fails when there is no such user. */
  passwordHash(username: string): Promise<string | null> {
    return this.withStore(async (store) => {
      const row = await store.db
        .selectFrom("users")
        .select("password")
        .where("username", "=", username)
        .executeTakeFirstOrThrow();
      return row.password;
    });
  }

  /** Stops every core of this install, drops its database and removes its data directory. */
  async dispose(): Promise<void> {
    await Promise.all([...this.running].map((core) => core.stop()));
    tracked.installs.delete(this);
    try {
      await this.dropDatabase?.();
    } finally {
      rmSync(this.dataDir, { recursive: true, force: true });
      tracked.dirs.delete(this.dataDir);
    }
  }
}

/** Stops and removes everything this module started; call it from afterAll. */
export async function disposeAll(): Promise<void> {
  const results = await Promise.allSettled([...tracked.installs].map((install) => install.dispose()));
  for (const core of tracked.cores) core.proc.kill("SIGKILL");
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

const tracked = {
  installs: new Set<Install>(),
  cores: new Set<CoreProcess>(),
  dirs: new Set<string>(),
};

// Last resort when a run is interrupted: no child outlives the test process, no data is left behind.
process.once("exit", () => {
  for (const core of tracked.cores) core.proc.kill("SIGKILL");
  for (const dir of tracked.dirs) rmSync(dir, { recursive: true, force: true });
});

/** The test runner's environment without Gatehouse or authentik settings, plus `env`. */
function childEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(GATEHOUSE|AUTHENTIK)_/.test(name)) out[name] = value;
  }
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete out[name];
    else out[name] = value;
  }
  return out;
}

/** The backends end-to-end suites run on: SQLite always, PostgreSQL when GATEHOUSE_TEST_POSTGRES_URL is set. */
export function e2eBackends(): Backend[] {
  return postgresTestUrl ? ["sqlite", "postgres"] : ["sqlite"];
}

/**
 * For a suite whose PostgreSQL variant cannot run (GATEHOUSE_TEST_POSTGRES_URL unset): a skipped test
 * saying so, or a failing one when GATEHOUSE_E2E_REQUIRED=1.
 */
export function reportMissingBackends(suite: string): void {
  if (postgresTestUrl) return;
  const what = "PostgreSQL (GATEHOUSE_TEST_POSTGRES_URL is not set)";
  if (process.env.GATEHOUSE_E2E_REQUIRED === "1") {
    test(`${suite} on postgres`, () => {
      throw new Error(`${what}, and GATEHOUSE_E2E_REQUIRED=1`);
    });
  } else {
    test.skip(`${suite} on postgres: skipped, ${what}`, () => {});
  }
}
