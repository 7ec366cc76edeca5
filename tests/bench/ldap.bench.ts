/**
 * The LDAP outpost against OpenLDAP slapd (mdb) serving the same 10,000 users and 5 groups, side by
 * side in one run: cached binds/s, single-entry searches/s, a 1,000-entry search, the latency of a
 * first (uncached) bind, and the outpost's RSS with an empty and with the full directory. Every
 * throughput figure is a ratio to slapd measured before and after the outpost (mean of the two).
 * Goals from the issue: cached bind and single-entry search ≥ 0.5× slapd.
 */
import { join } from "node:path";
import { onCleanup } from "./cleanup.ts";
import type { SearchSpec } from "./ldap-ber.ts";
import { BASE_DN, Gatehouse, type Outpost } from "./ldap-gatehouse.ts";
import type { LoadJob, LoadReport } from "./ldap-load.ts";
import { buildReport, type ScenarioRun } from "./ldap-report.ts";
import { startSlapd } from "./ldap-slapd.ts";
import { processMemory } from "./report.ts";
import { seedUsers } from "./seed-users.ts";
import type { BenchSettings, BenchSuite } from "./suite.ts";

const USERS = 10_000;
const GROUPS = 5;
const PASSWORD = "bench-password"; // what seed-users.ts hashes for every user
const SETTLE_MS = 1_000;
const FIRST_BINDS = 20;
const FIRST_BIND_WARMUPS = 2;
/** Attributes every search asks for: ones both servers hold, so the answers are of a like size. */
const ATTRIBUTES = ["cn", "uid", "mail", "displayName", "uidNumber", "gidNumber", "homeDirectory"];
const USERS_OU = `ou=users,${BASE_DN}`;

const username = (n: number) => `bench-user-${String(n).padStart(5, "0")}`;
const userDn = (n: number) => `cn=${username(n)},${USERS_OU}`;
/** The user every throughput scenario binds as (allowed to search the whole directory). */
const BIND_USER = 1;

export interface Scenario {
  key: "cached_bind" | "search_one" | "search_1000";
  name: string;
  unit: "binds/s" | "searches/s";
  job(port: number, settings: BenchSettings): LoadJob;
}

function singleSearches(count: number): SearchSpec[] {
  // A fixed pseudo-random spread over the directory, the same for both servers.
  let x = 12345;
  return Array.from({ length: count }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return {
      base: USERS_OU,
      scope: 2 as const,
      filter: { eq: ["cn", username(1 + (x % USERS))] as [string, string] },
      attributes: ATTRIBUTES,
    };
  });
}

export const SCENARIOS: Scenario[] = [
  {
    key: "cached_bind",
    name: "cached bind (same DN+password)",
    unit: "binds/s",
    job: (port, s) => ({
      mode: "bind",
      port,
      connections: s.connections,
      seconds: s.seconds,
      warmupSeconds: Math.max(1, s.warmupSeconds),
      dn: userDn(BIND_USER),
      password: PASSWORD,
    }),
  },
  {
    key: "search_one",
    name: "search (cn=user) → 1 entry",
    unit: "searches/s",
    job: (port, s) => ({
      mode: "search",
      port,
      connections: s.connections,
      seconds: s.seconds,
      warmupSeconds: Math.max(1, s.warmupSeconds),
      dn: userDn(BIND_USER),
      password: PASSWORD,
      searches: singleSearches(1000),
      expectEntries: 1,
    }),
  },
  {
    key: "search_1000",
    name: "search (cn=bench-user-01*) → 1,000 entries",
    unit: "searches/s",
    job: (port, s) => ({
      mode: "search",
      port,
      // Large answers: a few connections keep the server busy without queueing megabytes.
      connections: Math.min(4, s.connections),
      seconds: s.seconds,
      warmupSeconds: Math.max(1, s.warmupSeconds),
      dn: userDn(BIND_USER),
      password: PASSWORD,
      searches: [
        { base: USERS_OU, scope: 2, filter: { prefix: ["cn", "bench-user-01"] }, attributes: ATTRIBUTES },
      ],
      expectEntries: 1000,
    }),
  },
];

/** Users whose first binds are timed (after a few untimed ones), distinct from BIND_USER. */
const firstBindJob = (port: number, from: number): LoadJob => ({
  mode: "first-bind",
  port,
  password: PASSWORD,
  dns: Array.from({ length: FIRST_BIND_WARMUPS + FIRST_BINDS }, (_, i) => userDn(from + i)),
});

/** CPU layout: the server under test alone on CPU 0; the load driver and the core on CPU 1. */
function cpuLayout(): { server?: string; client?: string; note: string } {
  const cpus = navigator.hardwareConcurrency;
  const taskset = Bun.which("taskset");
  if (cpus < 2 || !taskset)
    return { note: `not pinned (${cpus} CPU${cpus === 1 ? "" : "s"}${taskset ? "" : ", no taskset"})` };
  return {
    server: "0",
    client: "1",
    note: "server under test (slapd / outpost) pinned to CPU 0; load driver and Gatehouse core to CPU 1",
  };
}

/**
 * Runs ldap-load.ts in its own process on `cpus` and returns its report, which includes the CPU use of
 * the server (`serverPid`) over the measured window.
 */
async function drive(job: LoadJob, cpus: string | undefined, serverPid: number): Promise<LoadReport> {
  const file = join(import.meta.dir, "ldap-load.ts");
  const argv = [process.execPath, file];
  // The job goes in on stdin: a thousand search specs are too long for one argument.
  const proc = Bun.spawn(cpus ? ["taskset", "-c", cpus, ...argv] : argv, {
    stdin: new TextEncoder().encode(JSON.stringify(job.mode === "first-bind" ? job : { ...job, serverPid })),
    stdout: "pipe",
    stderr: "inherit",
  });
  const stop = onCleanup(() => proc.kill());
  const out = await new Response(proc.stdout).text();
  const code = await proc.exited;
  await stop();
  if (code !== 0) throw new Error(`ldap-load.ts (${job.mode}) exited ${code}`);
  const report = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as LoadReport;
  if (report.errors > 0)
    console.log(`  ${report.errors} failed operations: ${report.error_samples.join("; ")}`);
  return report;
}

export const suite: BenchSuite = {
  description:
    "LDAP outpost vs OpenLDAP slapd (10,000 users): cached binds, searches, first-bind latency, RSS",
  async run(settings) {
    const layout = cpuLayout();
    console.log(`cpu layout: ${layout.note}`);
    const directory = { base: BASE_DN, users: USERS, groups: GROUPS, username, password: PASSWORD };
    const slapd = await startSlapd(directory, { cpus: layout.server });
    console.log(`slapd ${slapd.version}: ${USERS} users loaded by slapadd in ${slapd.loadMs} ms`);

    console.log("slapd: first binds");
    const slapdFirst = await drive(firstBindJob(slapd.port, 101), layout.client, slapd.pid);

    const gh = await Gatehouse.create(layout.client);
    const dispose = onCleanup(() => gh.install.dispose());
    try {
      await gh.startCore();
      await gh.configure();
      // The outpost with an empty directory (akadmin and the outpost's service account only).
      const empty = await gh.startOutpost(layout.server);
      await Bun.sleep(SETTLE_MS);
      const emptyMemory = processMemory(empty.pid);
      console.log(
        `outpost, empty directory: listening after ${empty.startMs} ms, RSS ${emptyMemory?.rss_mb} MB`,
      );
      await empty.stop();

      await gh.stopCore();
      const seeded = await gh.install.withStore((store) =>
        seedUsers(store, { users: USERS, groups: GROUPS }),
      );
      console.log(`core: seeded ${USERS} users in ${seeded.ms} ms`);
      await gh.startCore();
      await gh.allowSearch(username(BIND_USER));

      const profile = (key: string) => (settings.profileDir ? join(settings.profileDir, key) : undefined);
      let outpost: Outpost = await gh.startOutpost(layout.server, profile("start"));
      await Bun.sleep(SETTLE_MS);
      const fullMemory = processMemory(outpost.pid);
      console.log(
        `outpost, ${USERS} users: listening after ${outpost.startMs} ms, RSS ${fullMemory?.rss_mb} MB`,
      );

      // Each scenario runs on slapd, the outpost and slapd again, so the anchor is seconds away.
      const slapdRuns: Record<string, [LoadReport, LoadReport]> = {};
      const outpostRuns: Record<string, LoadReport> = {};
      for (const s of SCENARIOS) {
        if (settings.profileDir) {
          // One profile per scenario: a fresh outpost for each.
          await outpost.stop();
          outpost = await gh.startOutpost(layout.server, profile(s.key));
        }
        console.log(`${s.name}: slapd, outpost, slapd`);
        const before = await drive(s.job(slapd.port, settings), layout.client, slapd.pid);
        outpostRuns[s.key] = await drive(s.job(outpost.port, settings), layout.client, outpost.pid);
        const after = await drive(s.job(slapd.port, settings), layout.client, slapd.pid);
        slapdRuns[s.key] = [before, after];
      }
      console.log("outpost: first binds (each through the bind flow and check_access)");
      const outpostFirst = await drive(firstBindJob(outpost.port, 101), layout.client, outpost.pid);
      const afterMemory = processMemory(outpost.pid);
      await outpost.stop();

      const slapdMemory = processMemory(slapd.pid);
      await slapd.stop();

      const scenarios: ScenarioRun[] = SCENARIOS.map((s) => ({
        key: s.key,
        name: s.name,
        unit: s.unit,
        slapd: slapdRuns[s.key] as [LoadReport, LoadReport],
        outpost: outpostRuns[s.key] as LoadReport,
      }));
      return buildReport({
        settings,
        users: USERS,
        groups: GROUPS,
        cpuNote: layout.note,
        slapdVersion: slapd.version,
        slapdLoadMs: slapd.loadMs,
        seedMs: seeded.ms,
        outpostCommand: outpost.command,
        outpostStartMs: outpost.startMs,
        scenarios,
        firstBind: { slapd: slapdFirst, outpost: outpostFirst, warmups: FIRST_BIND_WARMUPS },
        memory: {
          outpost_empty_directory: emptyMemory,
          outpost_full_directory_idle: fullMemory,
          outpost_after_load: afterMemory,
          slapd_after_load: slapdMemory,
        },
        attributes: ATTRIBUTES,
      });
    } finally {
      await dispose();
    }
  },
};
