/**
 * The OAuth2 token endpoint under load: client_credentials grants/s and authorization-code exchanges/s
 * on SQLite and PostgreSQL, each as a ratio to `oidc-provider` (in-memory adapter, ES256, JWT access
 * tokens) measured in the same run, before, between and after the stores. Goal: client credentials
 * ≥ 1.0× oidc-provider on SQLite.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { postgresTestUrl } from "../../core/src/store/testing.ts";
import type { Backend } from "../support/process.ts";
import { onCleanup } from "./cleanup.ts";
import { type LoadResult, measure, wrkVersion } from "./load.ts";
import { startOidcProvider } from "./oauth2-anchor.ts";
import { type OAuth2Client, startGatehouse } from "./oauth2-gatehouse.ts";
import { machineInfo, processMemory, round, type Table } from "./report.ts";
import { type BenchSettings, type BenchSuite, SetupError } from "./suite.ts";

const REDIRECT_URI = "https://app.example.test/callback";
const VERIFIER = "bench-pkce-verifier-0123456789-abcdefghijklmnop";
const PKCE = {
  redirectUri: REDIRECT_URI,
  verifier: VERIFIER,
  challenge: createHash("sha256").update(VERIFIER).digest("base64url"),
};
/** Browsers minting Gatehouse's codes at once. */
const MINT_CONCURRENCY = 8;

type Grant = "client_credentials" | "authorization_code";

interface Target {
  name: string;
  tokenUrl: string;
  client: OAuth2Client;
  /** The scope a client_credentials grant asks for. */
  ccScope: string;
  mintCodes(n: number): Promise<string[]>;
}

interface Run {
  target: string;
  client_credentials: LoadResult;
  authorization_code: LoadResult;
  codes_minted: number;
  mint_per_s: number;
}

const form = (fields: Record<string, string>) =>
  // "{code}" stays readable for wrk-form.lua.
  new URLSearchParams(fields).toString().replace("%7Bcode%7D", "{code}");

function bodies(target: Target): Record<Grant, string> {
  const client = { client_id: target.client.clientId, client_secret: target.client.clientSecret };
  return {
    client_credentials: form({ grant_type: "client_credentials", ...client, scope: target.ccScope }),
    authorization_code: form({
      grant_type: "authorization_code",
      code: "{code}",
      redirect_uri: target.client.redirectUri,
      code_verifier: target.client.verifier,
      ...client,
    }),
  };
}

/** One request of each grant before the load, so a broken endpoint is not measured as a fast one. */
async function probe(target: Target, body: Record<Grant, string>): Promise<void> {
  const [code] = await target.mintCodes(1);
  for (const [grant, text] of [
    ["client_credentials", body.client_credentials],
    ["authorization_code", body.authorization_code.replace("{code}", code ?? "")],
  ] as const) {
    const res = await fetch(target.tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: text,
    });
    const answer = (await res.json()) as { access_token?: string; id_token?: string };
    const want = grant === "authorization_code" ? answer.id_token : answer.access_token;
    if (res.status !== 200 || !answer.access_token?.startsWith("ey") || !want)
      throw new Error(`${target.name}: ${grant} answered ${res.status} ${JSON.stringify(answer)}`);
  }
}

/**
 * Client credentials, then code exchanges: as many codes as client credentials ran grants in a measured
 * run (an exchange is no cheaper), at most `maxCodes`, so most exchange runs last their full time.
 */
async function runTarget(
  target: Target,
  settings: BenchSettings,
  maxCodes: number,
  dir: string,
): Promise<Run> {
  const body = bodies(target);
  await probe(target, body);
  const load = { seconds: settings.seconds, connections: settings.connections, threads: settings.threads };
  console.log(`${target.name}: client_credentials`);
  const cc = await measure({
    ...load,
    url: target.tokenUrl,
    warmupSeconds: settings.warmupSeconds,
    form: { body: body.client_credentials },
  });

  const codes = Math.min(maxCodes, Math.ceil(cc.requestsPerSecond * settings.seconds));
  const warm = Math.max(100, Math.round(codes / 10));
  console.log(`${target.name}: minting ${warm + codes} authorization codes`);
  const started = performance.now();
  const minted = await target.mintCodes(warm + codes);
  const mintSeconds = (performance.now() - started) / 1000;
  const file = (name: string, list: string[]) => {
    const path = join(dir, `${target.name.replace(/\W+/g, "-")}-${name}.txt`);
    writeFileSync(path, `${list.join("\n")}\n`);
    return path;
  };
  const exchange = (codesFile: string, seconds: number) =>
    measure({
      ...load,
      seconds,
      url: target.tokenUrl,
      warmupSeconds: 0,
      form: { body: body.authorization_code, codesFile },
    });
  console.log(`${target.name}: authorization_code exchanges`);
  if (settings.warmupSeconds > 0) await exchange(file("warm", minted.slice(0, warm)), settings.warmupSeconds);
  const ac = await exchange(file("codes", minted.slice(warm)), settings.seconds);
  return {
    target: target.name,
    client_credentials: cc,
    authorization_code: ac,
    codes_minted: minted.length,
    mint_per_s: round(minted.length / mintSeconds),
  };
}

export const suite: BenchSuite = {
  description:
    "OAuth2 client_credentials grants/s and code exchanges/s on SQLite and PostgreSQL vs oidc-provider",
  async run(settings) {
    const wrk = await wrkVersion();
    const codes = Number(process.env.GATEHOUSE_BENCH_OAUTH2_CODES || 20_000);
    if (!Number.isInteger(codes) || codes < 1)
      throw new SetupError("GATEHOUSE_BENCH_OAUTH2_CODES must be a whole number of codes, at least 1");
    const backends: Backend[] = postgresTestUrl ? ["sqlite", "postgres"] : ["sqlite"];
    if (!postgresTestUrl) console.log("PostgreSQL skipped: set GATEHOUSE_TEST_POSTGRES_URL to include it.");
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-bench-oauth2-"));
    const removeDir = onCleanup(() => rmSync(dir, { recursive: true, force: true }));

    const anchor = await startOidcProvider(PKCE);
    const anchorTarget: Target = {
      name: "oidc-provider",
      tokenUrl: anchor.tokenUrl,
      client: anchor.client,
      ccScope: "api",
      mintCodes: (n) => anchor.mintCodes(n),
    };
    // oidc-provider mints in memory, quickly: it gets all the codes its run can use.
    const anchorCodes = 500_000;
    const anchorRuns = [await runTarget(anchorTarget, settings, anchorCodes, dir)];
    const runs: Run[] = [];
    for (const backend of backends) {
      const gatehouse = await startGatehouse(backend, settings, PKCE);
      try {
        runs.push(
          await runTarget(
            {
              name: `gatehouse ${backend}`,
              tokenUrl: gatehouse.tokenUrl,
              client: gatehouse.client,
              ccScope: "profile email",
              mintCodes: (n) => gatehouse.mintCodes(n, MINT_CONCURRENCY),
            },
            settings,
            codes,
            dir,
          ),
        );
      } finally {
        await gatehouse.stop();
      }
      anchorRuns.push(await runTarget(anchorTarget, settings, anchorCodes, dir));
    }
    const anchorMemory = processMemory(anchor.pid);
    await anchor.stop();
    await removeDir();
    return report(settings, wrk, runs, anchorRuns, anchorMemory?.rss_mb);
  },
};

const GRANTS: Grant[] = ["client_credentials", "authorization_code"];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function report(
  settings: BenchSettings,
  wrk: string,
  runs: Run[],
  anchorRuns: Run[],
  anchorRssMb: number | undefined,
) {
  const anchorFor = (i: number, grant: Grant) => {
    const pair = [anchorRuns[i], anchorRuns[i + 1]].flatMap((r) => (r ? [r[grant].requestsPerSecond] : []));
    return { rps: mean(pair), drift: pair.length === 2 ? Math.abs((pair[1] ?? 0) / (pair[0] ?? 1) - 1) : 0 };
  };
  const row = (run: Run, grant: Grant, ratio: number | string): (string | number)[] => {
    const r = run[grant];
    return [
      grant,
      run.target,
      round(r.requestsPerSecond),
      ratio,
      r.latencyMs.p50,
      r.latencyMs.p99,
      round(r.seconds, 1),
    ];
  };
  const rows: (string | number)[][] = [];
  const scenarios: Record<string, unknown>[] = [];
  for (const grant of GRANTS) {
    for (const a of anchorRuns) rows.push(row(a, grant, "anchor"));
    runs.forEach((run, i) => {
      const anchor = anchorFor(i, grant);
      const ratio = round(run[grant].requestsPerSecond / anchor.rps, 3);
      rows.push(row(run, grant, ratio));
      scenarios.push({
        grant,
        target: run.target,
        requests_per_s: round(run[grant].requestsPerSecond),
        anchor_requests_per_s: round(anchor.rps),
        ratio_to_anchor: ratio,
        anchor_drift_percent: round(anchor.drift * 100, 1),
        latency_ms: run[grant].latencyMs,
        requests: run[grant].requests,
        seconds: round(run[grant].seconds, 2),
      });
    });
  }
  const table: Table = {
    title: "OAuth2 token endpoint (ES256), requests/s",
    columns: ["grant", "server", "req/s", "× oidc-provider", "p50 ms", "p99 ms", "s"],
    rows,
    notes: [
      "oidc-provider runs before, between and after the stores; each ratio uses the mean of the two runs around it.",
      "client_credentials: Gatehouse asks for `profile email` (claims from the scope mappings), oidc-provider",
      "for its resource server's `api`; both answer one ES256 JWT access token. Code exchanges: ES256 access",
      "and ID tokens, PKCE S256. An exchange run ends early when its codes are used up (column s).",
      ...runs.flatMap((run, i) =>
        GRANTS.map(
          (g) =>
            `anchor drift around ${run.target}, ${g}: ${round(anchorFor(i, g).drift * 100, 1)} %` +
            (run === runs[0] && g === "client_credentials"
              ? ` (goal on SQLite: ≥ 1.0×; ${round(run[g].requestsPerSecond / anchorFor(i, g).rps, 3)}×)`
              : ""),
        ),
      ),
      `codes minted through the flow executor: ${runs.map((r) => `${r.target} ${r.mint_per_s}/s`).join(", ")}`,
    ],
  };
  return {
    tables: [table],
    results: {
      machine: machineInfo(wrk),
      settings: {
        seconds: settings.seconds,
        warmup_seconds: settings.warmupSeconds,
        connections: settings.connections,
        threads: settings.threads,
      },
      anchor: {
        name: "oidc-provider (in-memory adapter, ES256, JWT access tokens)",
        rss_mb: anchorRssMb,
        runs: anchorRuns.map((a) => ({
          client_credentials_per_s: round(a.client_credentials.requestsPerSecond),
          authorization_code_per_s: round(a.authorization_code.requestsPerSecond),
        })),
      },
      scenarios,
      codes_minted: Object.fromEntries(
        runs.map((r) => [r.target, { count: r.codes_minted, per_s: r.mint_per_s }]),
      ),
    },
  };
}
