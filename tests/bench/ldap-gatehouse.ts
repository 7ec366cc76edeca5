/**
 * The Gatehouse side of the LDAP suite: a core (child process, SQLite) with an LDAP provider, its
 * application, an LDAP outpost and a role granting search_full_directory, and the outpost itself as a
 * child process (`bun outposts/ldap/main.ts`, or the binary in GATEHOUSE_BENCH_LDAP_OUTPOST).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { randomSecret } from "../../shared/crypto.ts";
import { type CoreProcess, freePort, Install, stopProcess } from "../support/process.ts";
import { onCleanup } from "./cleanup.ts";
import { listening } from "./ldap-slapd.ts";

const OUTPOST_MAIN = resolve(import.meta.dir, "../../outposts/ldap/main.ts");
const READY_TIMEOUT_MS = 120_000;

export const BASE_DN = "dc=ldap,dc=goauthentik,dc=io";

export interface Outpost {
  port: number;
  pid: number;
  command: string;
  /** Milliseconds from spawn to the LDAP port accepting connections (the directory is loaded by then). */
  startMs: number;
  stop(): Promise<void>;
}

/** The current affinity of every thread of `pid` set to `cpus` (taskset -a -p), when asked. */
export function pin(pid: number, cpus: string | undefined): void {
  if (!cpus) return;
  const res = Bun.spawnSync(["taskset", "-a", "-p", "-c", cpus, String(pid)], { stdout: "ignore" });
  if (res.exitCode !== 0) throw new Error(`taskset -p ${pid} failed: ${res.stderr.toString()}`);
}

export class Gatehouse {
  core: CoreProcess | undefined;
  private outpostToken = "";
  private providerPk = 0;
  private rolePk = "";

  private constructor(
    readonly install: Install,
    private readonly token: string,
    private readonly coreCpus: string | undefined,
  ) {}

  static async create(coreCpus: string | undefined): Promise<Gatehouse> {
    const token = `bench-${randomSecret()}`;
    const install = await Install.create("sqlite", {
      GATEHOUSE_BOOTSTRAP_TOKEN: token,
      GATEHOUSE_BOOTSTRAP_PASSWORD: randomSecret(),
      GATEHOUSE_LOG__LEVEL: "warn",
    });
    return new Gatehouse(install, token, coreCpus);
  }

  async startCore(): Promise<void> {
    this.core = await this.install.start();
    pin(this.core.proc.pid, this.coreCpus);
  }

  async stopCore(): Promise<void> {
    const code = await this.core?.stop();
    if (code !== 0 && code !== undefined) throw this.core?.failure(`exited with ${code} when stopped`);
    this.core = undefined;
  }

  async api<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    if (!this.core) throw new Error("the core is not running");
    const res = await fetch(`${this.core.url}/api/v3${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json" },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** The provider (base DN BASE_DN), its application, an outpost for it and the search role. */
  async configure(): Promise<void> {
    type Pk = { pk: number | string };
    const auth = (await this.api<Pk>("GET", "/flows/instances/default-authentication-flow/")).pk;
    const logout = (await this.api<Pk>("GET", "/flows/instances/default-invalidation-flow/")).pk;
    const provider = await this.api<{ pk: number }>("POST", "/providers/ldap/", {
      name: "bench-ldap",
      authorization_flow: auth,
      invalidation_flow: logout,
      base_dn: BASE_DN,
    });
    this.providerPk = provider.pk;
    await this.api("POST", "/core/applications/", { name: "LDAP", slug: "ldap", provider: provider.pk });
    const outpost = await this.api<{ token_identifier: string }>("POST", "/outposts/instances/", {
      name: "bench-ldap",
      type: "ldap",
      providers: [provider.pk],
      config: {},
    });
    this.outpostToken = (
      await this.api<{ key: string }>("GET", `/core/tokens/${outpost.token_identifier}/view_key/`)
    ).key;
    const role = await this.api<{ pk: string }>("POST", "/rbac/roles/", { name: "ldap-search" });
    this.rolePk = role.pk;
    await this.api("POST", `/rbac/permissions/assigned_by_roles/${role.pk}/assign/`, {
      permissions: ["authentik_providers_ldap.search_full_directory"],
      model: "authentik_providers_ldap.ldapprovider",
      object_pk: String(this.providerPk),
    });
  }

  /** Lets `username` search the whole directory (through the role made in configure()). */
  async allowSearch(username: string): Promise<void> {
    const user = (
      await this.api<{ results: { pk: number }[] }>(
        "GET",
        `/core/users/?username=${encodeURIComponent(username)}`,
      )
    ).results[0];
    if (!user) throw new Error(`no user ${username}`);
    await this.api("POST", `/rbac/roles/${this.rolePk}/add_user/`, { pk: user.pk });
  }

  /** Starts the outpost pinned to `cpus`, under the CPU profiler when `profileDir` is set. */
  async startOutpost(cpus: string | undefined, profileDir?: string): Promise<Outpost> {
    if (!this.core) throw new Error("the core is not running");
    const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-bench-ldap-"));
    const port = await freePort();
    const tlsPort = await freePort();
    const binary = process.env.GATEHOUSE_BENCH_LDAP_OUTPOST;
    const command = binary ? [binary] : [process.execPath, OUTPOST_MAIN];
    const started = performance.now();
    const proc: Subprocess = Bun.spawn(cpus ? ["taskset", "-c", cpus, ...command] : command, {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        GATEHOUSE_HOST: this.core.url,
        GATEHOUSE_TOKEN: this.outpostToken,
        GATEHOUSE_DATA_DIR: dataDir,
        GATEHOUSE_LISTEN__LDAP: `127.0.0.1:${port}`,
        GATEHOUSE_LISTEN__LDAPS: `127.0.0.1:${tlsPort}`,
        GATEHOUSE_LISTEN__METRICS: "127.0.0.1:0",
        GATEHOUSE_LOG__LEVEL: "warn",
        ...(profileDir && { BUN_OPTIONS: `--cpu-prof --cpu-prof-md --cpu-prof-dir=${profileDir}` }),
      },
      stdin: "ignore",
      stdout: "ignore",
      stderr: "inherit",
    });
    const stop = onCleanup(async () => {
      await stopProcess(proc, 10_000);
      rmSync(dataDir, { recursive: true, force: true });
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await listening(port))) {
      if (proc.exitCode !== null) {
        await stop();
        throw new Error(`the LDAP outpost exited (${proc.exitCode}) before listening`);
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`the LDAP outpost did not listen within ${READY_TIMEOUT_MS} ms`);
      }
      await Bun.sleep(50);
    }
    return {
      port,
      pid: proc.pid,
      command: binary ? binary : "bun outposts/ldap/main.ts",
      startMs: Math.round(performance.now() - started),
      stop,
    };
  }
}
