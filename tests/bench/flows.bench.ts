/**
 * Password logins per second through the flow executor API (identification → password → login, as an
 * outpost drives it), against the anchor of bare argon2id verifications per second at the same
 * concurrency in the same run. Each login verifies one password, so logins/s ÷ verifies/s is the share
 * of the time that is hashing; the goal is that the flow machinery adds under 20 % (ratio ≥ 0.8).
 */
import { join } from "node:path";
import { randomSecret } from "../../shared/crypto.ts";
import { Install } from "../support/process.ts";
import { onCleanup } from "./cleanup.ts";
import { machineInfo, processMemory, round } from "./report.ts";
import type { BenchSuite } from "./suite.ts";

const USERNAME = "bench-user";
const PASSWORD = "Bench-Password-Correct-1";

async function child<T>(args: string[]): Promise<T> {
  const proc = Bun.spawn([process.execPath, ...args], { stdout: "pipe", stderr: "inherit" });
  const stop = onCleanup(() => proc.kill());
  const out = await new Response(proc.stdout).text();
  const code = await proc.exited;
  await stop();
  if (code !== 0) throw new Error(`${args[0]} exited ${code}`);
  return JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as T;
}

export const suite: BenchSuite = {
  description:
    "Password logins/s through the flow executor vs argon2id verifications/s (Bun defaults), same run",
  async run(settings) {
    const concurrency = Math.max(2, Math.min(settings.connections, 8));
    const token = `bench-${randomSecret()}`;
    const install = await Install.create("sqlite", {
      GATEHOUSE_BOOTSTRAP_TOKEN: token,
      GATEHOUSE_LOG__LEVEL: "warn",
    });
    const dispose = onCleanup(() => install.dispose());
    try {
      const core = await install.start();
      // Checked calls: a refused set-up fails here, not as a run of failed logins.
      const api = core.api(token);
      const user = await api<{ pk: number }>("POST", "/core/users/", { username: USERNAME, name: "Bench" });
      await api("POST", `/core/users/${user.pk}/set_password/`, { password: PASSWORD });

      const anchorFile = join(import.meta.dir, "argon2-anchor.ts");
      const loadFile = join(import.meta.dir, "flow-login-load.ts");
      console.log(`anchor: argon2id verify, ${concurrency} at a time`);
      const before = await child<{ verifies: number; seconds: number; params: string }>([
        anchorFile,
        String(settings.seconds),
        String(concurrency),
      ]);
      console.log(`logins through default-authentication-flow, ${concurrency} at a time`);
      const warm = Math.max(1, settings.warmupSeconds);
      await child([
        loadFile,
        core.url,
        "default-authentication-flow",
        USERNAME,
        PASSWORD,
        String(warm),
        String(concurrency),
      ]);
      const load = await child<{ logins: number; failures: number; p50_ms: number; p99_ms: number }>([
        loadFile,
        core.url,
        "default-authentication-flow",
        USERNAME,
        PASSWORD,
        String(settings.seconds),
        String(concurrency),
      ]);
      const after = await child<{ verifies: number; seconds: number }>([
        anchorFile,
        String(settings.seconds),
        String(concurrency),
      ]);
      const memory = processMemory(core.proc.pid);

      const verifiesPerS = (before.verifies / before.seconds + after.verifies / after.seconds) / 2;
      const loginsPerS = load.logins / settings.seconds;
      const ratio = loginsPerS / verifiesPerS;
      const results = {
        suite: "flows",
        machine: machineInfo("bun fetch, one process"),
        settings: { seconds: settings.seconds, concurrency },
        argon2id: {
          params: before.params,
          verifies_per_s: round(verifiesPerS, 1),
          drift_percent: round(((after.verifies - before.verifies) / before.verifies) * 100),
        },
        logins: {
          per_s: round(loginsPerS, 1),
          failures: load.failures,
          p50_ms: round(load.p50_ms, 1),
          p99_ms: round(load.p99_ms, 1),
          ratio_to_argon2: round(ratio, 3),
          flow_overhead_percent: round((1 / ratio - 1) * 100, 1),
          goal_met: ratio >= 0.8,
        },
        core_rss_mb_after: memory?.rss_mb,
      };
      return {
        results,
        tables: [
          {
            title: "Password logins through the flow executor (SQLite)",
            columns: ["measure", "per second", "× argon2", "p50 ms", "p99 ms"],
            rows: [
              [`argon2id verify (${before.params})`, round(verifiesPerS, 1), 1, "", ""],
              [
                "login: identification → password → session",
                round(loginsPerS, 1),
                round(ratio, 3),
                round(load.p50_ms, 1),
                round(load.p99_ms, 1),
              ],
            ],
            notes: [
              `flow machinery adds ${round((1 / ratio - 1) * 100, 1)} % on top of the hash (goal: under 20 %); ${load.failures} failed logins`,
            ],
          },
        ],
      };
    } finally {
      await dispose();
    }
  },
};
