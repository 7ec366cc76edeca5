/**
 * The LDAP suite's anchor: OpenLDAP slapd on a throwaway directory with a generated slapd.conf (mdb
 * backend), loaded with slapadd from an LDIF that mirrors what seed-users.ts puts in the core — the
 * same user names, groups and memberships, every user's userPassword an {SSHA} hash of the shared
 * bench password — laid out under the same DNs the outpost serves (cn=<user>,ou=users,<base>).
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort, stopProcess } from "../support/process.ts";
import { onCleanup } from "./cleanup.ts";
import { SetupError } from "./suite.ts";

export const SLAPD = "/usr/sbin/slapd";
const SLAPADD = "/usr/sbin/slapadd";
const SCHEMA_DIR = "/etc/ldap/schema";
const MODULE_DIR = "/usr/lib/ldap";
const READY_TIMEOUT_MS = 15_000;

export interface SlapdDirectory {
  base: string;
  users: number;
  groups: number;
  /** The username of user n (1-based), as seed-users.ts names it. */
  username(n: number): string;
  password: string;
}

export interface Slapd {
  url: string;
  port: number;
  pid: number;
  version: string;
  /** How long slapadd took to load the LDIF. */
  loadMs: number;
  stop(): Promise<void>;
}

/** {SSHA}: base64(SHA-1(password ‖ salt) ‖ salt), as slappasswd makes it. */
export function sshaHash(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash("sha1").update(password).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString("base64")}`;
}

/** The LDIF: base, ou=users, ou=groups, the users, and groupOfNames groups with seed-users' memberships. */
function ldif(d: SlapdDirectory): string {
  const dc = d.base.split(",")[0]?.split("=")[1] ?? "ldap";
  const out: string[] = [
    `dn: ${d.base}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\ndc: ${dc}\no: ${dc}\n`,
    `dn: ou=users,${d.base}\nobjectClass: organizationalUnit\nou: users\n`,
    `dn: ou=groups,${d.base}\nobjectClass: organizationalUnit\nou: groups\n`,
  ];
  const members: string[][] = Array.from({ length: d.groups }, () => []);
  for (let n = 1; n <= d.users; n++) {
    const name = d.username(n);
    const dn = `cn=${name},ou=users,${d.base}`;
    // seed-users.ts: user index i (0-based) is in group i % G, and every third also in group (i+1) % G.
    const i = n - 1;
    members[i % d.groups]?.push(dn);
    if (i % 3 === 0 && d.groups > 1) members[(i + 1) % d.groups]?.push(dn);
    const tag = name.replace(/^\D+/, "");
    out.push(
      [
        `dn: ${dn}`,
        "objectClass: top",
        "objectClass: inetOrgPerson",
        "objectClass: posixAccount",
        `cn: ${name}`,
        `sn: Bench User ${tag}`,
        `uid: ${name}`,
        `displayName: Bench User ${tag}`,
        `mail: ${name}@example.test`,
        `uidNumber: ${2000 + n}`,
        `gidNumber: ${2000 + n}`,
        `homeDirectory: /home/${name}`,
        `userPassword: ${sshaHash(d.password)}`,
        "",
      ].join("\n"),
    );
  }
  for (let g = 0; g < d.groups; g++) {
    const lines = [
      `dn: cn=bench-group-${g + 1},ou=groups,${d.base}`,
      "objectClass: groupOfNames",
      `cn: bench-group-${g + 1}`,
    ];
    for (const m of members[g] ?? []) lines.push(`member: ${m}`);
    out.push(`${lines.join("\n")}\n`);
  }
  return out.join("\n");
}

function config(dir: string, base: string, rootPassword: string, threads: number): string {
  return `include ${SCHEMA_DIR}/core.schema
include ${SCHEMA_DIR}/cosine.schema
include ${SCHEMA_DIR}/nis.schema
include ${SCHEMA_DIR}/inetorgperson.schema
modulepath ${MODULE_DIR}
moduleload back_mdb
pidfile ${dir}/slapd.pid
argsfile ${dir}/slapd.args
loglevel 0
threads ${threads}
sizelimit unlimited

database mdb
maxsize 1073741824
suffix "${base}"
rootdn "cn=admin,${base}"
rootpw ${sshaHash(rootPassword)}
directory ${dir}/db
index objectClass eq
index cn,uid eq,sub
index member eq
access to attrs=userPassword by anonymous auth by self read by * none
access to * by users read by * none
`;
}

/**
 * Loads the directory with slapadd and starts slapd on 127.0.0.1:<free port>, optionally pinned to
 * `cpus` (taskset). Resolves once an anonymous root-DSE search answers.
 */
export async function startSlapd(
  d: SlapdDirectory,
  options: { cpus?: string; threads?: number } = {},
): Promise<Slapd> {
  if (!existsSync(SLAPD) || !existsSync(SLAPADD))
    throw new SetupError("OpenLDAP slapd is not installed: apt-get install slapd (the LDAP suite's anchor)");
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-bench-slapd-"));
  const removeDir = onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "db"));
  const conf = join(dir, "slapd.conf");
  writeFileSync(conf, config(dir, d.base, randomBytes(16).toString("hex"), options.threads ?? 4));
  writeFileSync(join(dir, "data.ldif"), ldif(d));
  const started = performance.now();
  const add = Bun.spawnSync([SLAPADD, "-q", "-f", conf, "-l", join(dir, "data.ldif")], {
    stdout: "pipe",
    stderr: "pipe",
  });
  if (add.exitCode !== 0) throw new Error(`slapadd failed (${add.exitCode}): ${add.stderr.toString()}`);
  const loadMs = Math.round(performance.now() - started);
  const version = /slapd ([\d.]+)/.exec(Bun.spawnSync([SLAPD, "-VV"]).stderr.toString())?.[1] ?? "unknown";

  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  // -d 0 keeps slapd in the foreground (no fork), so it is this process's child to stop.
  const argv = [SLAPD, "-d", "0", "-f", conf, "-h", `${url}/`];
  const proc: Subprocess = Bun.spawn(options.cpus ? ["taskset", "-c", options.cpus, ...argv] : argv, {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const stopProc = onCleanup(() => stopProcess(proc));
  const stop = async () => {
    await stopProc();
    await removeDir();
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (proc.exitCode !== null) {
      const err = await new Response(proc.stderr as ReadableStream).text();
      await stop();
      throw new Error(`slapd exited (${proc.exitCode}) before answering: ${err}`);
    }
    if (await listening(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`slapd did not answer within ${READY_TIMEOUT_MS} ms`);
    }
    await Bun.sleep(50);
  }
  return { url, port, pid: proc.pid, version, loadMs, stop };
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export async function listening(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: { data() {}, error() {}, close() {} },
    });
    socket.end();
    return true;
  } catch {
    return false;
  }
}
