/**
 * The RADIUS outpost against FreeRADIUS (Debian `freeradius`, `files` + `pap`, started here on a
 * temporary config directory holding the same users) in one run: accepted PAP requests/s with
 * `radclient -p 64` (credentials cached in the outpost), p50/p99 latency with 64 requests in flight
 * (an in-process UDP driver), and the latency of a first (uncached, flow-run) request. Goal from the
 * issue: cached PAP ≥ 1.0× FreeRADIUS.
 */
import { spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { startServer } from "../../core/src/http/server.ts";
import { radiusCodec } from "../../outposts/radius/dictionary.ts";
import { memoryLogger } from "../../shared/log.ts";
import { startTestCore } from "../support/core.ts";
import { freePort } from "../support/process.ts";
import { onCleanup } from "./cleanup.ts";
import { round } from "./report.ts";
import { type BenchSettings, type BenchSuite, SetupError } from "./suite.ts";

const USERS = 64;
const FIRST = 20;
const PASSWORD = "bench-password";
const SECRET = "bench-secret-1";
const INFLIGHT = 64;
const RADCLIENT_REQUESTS = 20_000;

const username = (n: number) => `bench-user-${String(n).padStart(5, "0")}`;

/** FreeRADIUS on `port` with the users in its `files` authorize list and one client (127.0.0.1). */
async function startFreeradius(port: number, users: string[]): Promise<{ proc: Subprocess; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-freeradius-"));
  cpSync("/etc/freeradius/3.0", dir, { recursive: true, dereference: false });
  rmSync(join(dir, "sites-enabled"), { recursive: true, force: true });
  rmSync(join(dir, "mods-enabled/eap"), { force: true });
  spawnSync("mkdir", ["-p", join(dir, "sites-enabled")]);
  writeFileSync(
    join(dir, "sites-enabled/default"),
    `server default {\nlisten {\n type = auth\n ipaddr = 127.0.0.1\n port = ${port}\n}\nauthorize {\n files\n pap\n}\nauthenticate {\n Auth-Type PAP {\n  pap\n }\n}\npost-auth {\n}\n}\n`,
  );
  writeFileSync(join(dir, "clients.conf"), `client local {\n ipaddr = 127.0.0.1\n secret = ${SECRET}\n}\n`);
  writeFileSync(
    join(dir, "mods-config/files/authorize"),
    users
      .map(
        (u) =>
          `${u} Cleartext-Password := "${PASSWORD}"\n  Tunnel-Type = VLAN, Tunnel-Medium-Type = IEEE-802, Tunnel-Private-Group-Id = "42"\n`,
      )
      .join(""),
  );
  // FreeRADIUS drops to its own user (freerad) and must still read its configuration.
  spawnSync("chown", ["-R", "freerad:freerad", dir]);
  spawnSync("chmod", ["755", dir]);
  const proc = Bun.spawn(["freeradius", "-f", "-d", dir, "-l", "stdout"], {
    stdout: "ignore",
    stderr: "inherit",
  });
  onCleanup(() => {
    proc.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  return { proc, dir };
}

/** One Access-Request (with Message-Authenticator); resolves with the reply code and the time taken. */
function requester() {
  const socket = createSocket("udp4");
  let waiting: ((code: number) => void) | undefined;
  socket.on("message", (msg: Buffer) => waiting?.(msg[0] ?? 0));
  socket.on("error", () => {}); // ICMP port unreachable while a server starts: the request times out
  let id = 0;
  return {
    async send(port: number, user: string): Promise<{ code: number; ms: number }> {
      id = (id + 1) % 256;
      const packet = radiusCodec().encode({
        code: "Access-Request",
        identifier: id,
        secret: SECRET,
        attributes: [
          ["User-Name", user],
          ["User-Password", PASSWORD],
        ],
        add_message_authenticator: true,
      });
      const start = performance.now();
      const code = await new Promise<number>((resolve) => {
        const timer = setTimeout(() => resolve(0), 3000);
        waiting = (c) => {
          clearTimeout(timer);
          resolve(c);
        };
        socket.send(packet, port, "127.0.0.1");
      });
      return { code, ms: performance.now() - start };
    },
    close: () => socket.close(),
  };
}

/** INFLIGHT requesters looping for `seconds`: accepted/s and latency percentiles. */
async function latency(port: number, seconds: number) {
  const clients = Array.from({ length: INFLIGHT }, requester);
  const times: number[] = [];
  let accepted = 0;
  let other = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    clients.map(async (c, i) => {
      for (let n = 0; performance.now() < end; n++) {
        const r = await c.send(port, username(1 + ((i + n) % USERS)));
        if (r.code === 2) {
          accepted++;
          times.push(r.ms);
        } else other++;
      }
    }),
  );
  for (const c of clients) c.close();
  times.sort((a, b) => a - b);
  const pct = (p: number) => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))] ?? 0;
  return { per_s: accepted / seconds, p50_ms: pct(50), p99_ms: pct(99), failed: other };
}

/** `radclient -p 64` over RADCLIENT_REQUESTS requests: accepted requests per second of wall time. */
async function radclient(port: number, dir: string): Promise<{ per_s: number; accepted: number }> {
  const file = join(dir, "requests.txt");
  writeFileSync(
    file,
    Array.from(
      { length: RADCLIENT_REQUESTS },
      (_, i) =>
        `User-Name = "${username(1 + (i % USERS))}", User-Password = "${PASSWORD}", Message-Authenticator = 0x00\n`,
    ).join("\n"),
  );
  const start = performance.now();
  const proc = Bun.spawn(
    [
      "radclient",
      "-p",
      "64",
      "-q",
      "-s",
      "-r",
      "3",
      "-t",
      "3",
      "-f",
      file,
      `127.0.0.1:${port}`,
      "auth",
      SECRET,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const out = (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text());
  await proc.exited;
  const seconds = (performance.now() - start) / 1000;
  const accepted = Number(/Accepted\s*:\s*(\d+)/.exec(out)?.[1] ?? 0);
  return { per_s: accepted / seconds, accepted };
}

async function waitForAccept(port: number, user: string): Promise<void> {
  const c = requester();
  try {
    for (let i = 0; i < 100; i++) {
      if ((await c.send(port, user)).code === 2) return;
      await Bun.sleep(100);
    }
    throw new Error(`no Access-Accept on port ${port}`);
  } finally {
    c.close();
  }
}

export const suite: BenchSuite = {
  description: "RADIUS outpost vs FreeRADIUS: cached PAP accepts/s (radclient -p 64), p99, first request",
  async run(settings: BenchSettings) {
    if (!Bun.which("radclient"))
      throw new SetupError("radclient is missing: apt-get install freeradius-utils");
    if (!Bun.which("freeradius")) throw new SetupError("freeradius is missing: apt-get install freeradius");
    const t = await startTestCore("sqlite");
    onCleanup(() => t.stop());
    const core = startServer(t.core, memoryLogger("warn"), "127.0.0.1:0");
    onCleanup(() => core.stop());
    const api = async (method: string, path: string, body?: unknown) =>
      (await t.api(method, path, body === undefined ? {} : { body })).body;
    const auth = (await api("GET", "/api/v3/flows/instances/default-authentication-flow/")).pk;
    const logout = (await api("GET", "/api/v3/flows/instances/default-invalidation-flow/")).pk;
    const vlan = await api("POST", "/api/v3/propertymappings/provider/radius/", {
      name: "vlan",
      expression:
        '{"Tunnel-Type": "VLAN", "Tunnel-Medium-Type": "IEEE-802", "Tunnel-Private-Group-Id": "42"}',
    });
    const provider = await api("POST", "/api/v3/providers/radius/", {
      name: "bench",
      authorization_flow: auth,
      invalidation_flow: logout,
      client_networks: "127.0.0.1/32",
      shared_secret: SECRET,
      property_mappings: [vlan.pk],
    });
    await api("POST", "/api/v3/core/applications/", { name: "Bench", slug: "bench", provider: provider.pk });
    const out = await api("POST", "/api/v3/outposts/instances/", {
      name: "radius-bench",
      type: "radius",
      providers: [provider.pk],
      config: {},
    });
    const key = (await api("GET", `/api/v3/core/tokens/${out.token_identifier}/view_key/`)).key;
    const names = Array.from({ length: USERS + FIRST }, (_, i) => username(i + 1));
    for (const name of names) {
      const u = await api("POST", "/api/v3/core/users/", { username: name, name });
      await t.api("POST", `/api/v3/core/users/${u.pk}/set_password/`, { body: { password: PASSWORD } });
    }

    console.log("  users created; starting the outpost and FreeRADIUS");
    const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-radius-bench-"));
    onCleanup(() => rmSync(dataDir, { recursive: true, force: true }));
    const outpostPort = await freePort();
    const outpost = Bun.spawn(
      [
        process.env.GATEHOUSE_BENCH_RADIUS_OUTPOST ?? process.execPath,
        ...(process.env.GATEHOUSE_BENCH_RADIUS_OUTPOST
          ? []
          : [join(import.meta.dir, "../../outposts/radius/main.ts")]),
      ],
      {
        env: {
          PATH: process.env.PATH,
          GATEHOUSE_HOST: `http://127.0.0.1:${core.server.port}`,
          GATEHOUSE_TOKEN: key,
          GATEHOUSE_DATA_DIR: dataDir,
          GATEHOUSE_LISTEN__RADIUS: `127.0.0.1:${outpostPort}`,
          GATEHOUSE_LISTEN__METRICS: `127.0.0.1:${await freePort()}`,
          GATEHOUSE_LOG__LEVEL: "warn",
        },
        stdout: "ignore",
        stderr: "inherit",
      },
    );
    onCleanup(() => outpost.kill());
    const frPort = await freePort();
    const fr = await startFreeradius(frPort, names);
    await waitForAccept(outpostPort, username(1));
    await waitForAccept(frPort, username(1));

    console.log("  both answer; measuring");
    // First (uncached) requests: each a flow run (argon2id verify included) and check_access.
    const first: number[] = [];
    const one = requester();
    for (let i = USERS + 1; i <= USERS + FIRST; i++)
      first.push((await one.send(outpostPort, username(i))).ms);
    one.close();
    first.sort((a, b) => a - b);

    // Warm both (and fill the outpost's cache for every user), then measure FreeRADIUS, us, FreeRADIUS.
    await latency(outpostPort, Math.max(1, settings.warmupSeconds));
    await latency(frPort, Math.max(1, settings.warmupSeconds));
    const frA = await radclient(frPort, fr.dir);
    const ours = await radclient(outpostPort, dataDir);
    const frB = await radclient(frPort, fr.dir);
    const frLat = await latency(frPort, settings.seconds);
    const ourLat = await latency(outpostPort, settings.seconds);
    const frRate = (frA.per_s + frB.per_s) / 2;

    const results = {
      radclient_requests: RADCLIENT_REQUESTS,
      freeradius: { radclient_per_s: round(frRate), ...rounded(frLat) },
      outpost: { radclient_per_s: round(ours.per_s), accepted: ours.accepted, ...rounded(ourLat) },
      ratio_radclient: round(ours.per_s / frRate, 2),
      ratio_driver: round(ourLat.per_s / frLat.per_s, 2),
      first_request_ms: {
        p50: round(first[Math.floor(first.length / 2)] ?? 0, 1),
        max: round(first.at(-1) ?? 0, 1),
      },
      goal: "cached PAP ≥ 1.0× FreeRADIUS",
    };
    return {
      results,
      tables: [
        {
          title: "RADIUS: cached PAP (Access-Accept with 3 reply attributes)",
          columns: ["server", "radclient -p 64 accepts/s", "driver accepts/s", "p50 ms", "p99 ms"],
          rows: [
            [
              "FreeRADIUS 3 (files+pap)",
              round(frRate),
              round(frLat.per_s),
              round(frLat.p50_ms, 2),
              round(frLat.p99_ms, 2),
            ],
            [
              "Gatehouse outpost",
              round(ours.per_s),
              round(ourLat.per_s),
              round(ourLat.p50_ms, 2),
              round(ourLat.p99_ms, 2),
            ],
          ],
          notes: [
            `ratio (radclient): ${results.ratio_radclient}× FreeRADIUS; ratio (driver, ${INFLIGHT} in flight): ${results.ratio_driver}×`,
            `first (uncached) request: p50 ${results.first_request_ms.p50} ms, max ${results.first_request_ms.max} ms`,
          ],
        },
      ],
    };
  },
};

function rounded(l: { per_s: number; p50_ms: number; p99_ms: number; failed: number }) {
  return {
    driver_per_s: round(l.per_s),
    p50_ms: round(l.p50_ms, 2),
    p99_ms: round(l.p99_ms, 2),
    failed: l.failed,
  };
}
