import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer } from "../../core/src/http/server.ts";
import { memoryLogger } from "../../shared/log.ts";
import { startTestCore, type TestCore } from "../../tests/support/core.ts";
import type { ApiClient } from "./api.ts";
import { backoffDelay } from "./backoff.ts";
import { loadOutpostConfig } from "./config.ts";
import { type OutpostInstance, type OutpostKind, runOutpost } from "./runtime.ts";

/** A kind that only records what the runtime hands it. */
function probeKind() {
  const seen: { started: unknown[]; refreshed: unknown[]; sessions: string[] } = {
    started: [],
    refreshed: [],
    sessions: [],
  };
  const kind: OutpostKind<{ name: string; log_level: unknown }> = {
    type: "ldap",
    fetch: async (_api: ApiClient, outpost: OutpostInstance) => ({
      name: outpost.name,
      log_level: outpost.config.log_level,
    }),
    start: async (config) => void seen.started.push(config),
    refresh: async (config) => void seen.refreshed.push(config),
    sessionEnd: (id) => void seen.sessions.push(id),
    stop: async () => {},
  };
  return { kind, seen };
}

async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await Bun.sleep(20);
  }
}

describe("backoff", () => {
  test("doubles from 1 s, is capped at 5 minutes and jittered into its upper half", () => {
    expect(backoffDelay(0, () => 1)).toBe(1000);
    expect(backoffDelay(3, () => 1)).toBe(8000);
    expect(backoffDelay(30, () => 1)).toBe(300_000);
    expect(backoffDelay(30, () => 0)).toBe(150_000);
  });
});

describe("outpost configuration", () => {
  test("reads GATEHOUSE_* and authentik's AUTHENTIK_* names", () => {
    const ours = loadOutpostConfig(
      {},
      { env: { GATEHOUSE_HOST: "http://core:9000", GATEHOUSE_TOKEN: "t" } },
    ).values;
    expect(ours).toMatchObject({
      host: "http://core:9000",
      token: "t",
      insecure: false,
      "listen.metrics": "0.0.0.0:9300",
    });
    const theirs = loadOutpostConfig(
      {},
      { env: { AUTHENTIK_HOST: "https://sso", AUTHENTIK_TOKEN: "k", AUTHENTIK_INSECURE: "true" } },
    ).values;
    expect(theirs).toMatchObject({ host: "https://sso", token: "k", insecure: true });
  });
});

describe("outpost runtime against a real core", () => {
  let t: TestCore;
  let server: ReturnType<typeof startServer>;
  let dataDir: string;
  let outpost: { pk: string };
  let key = "";
  const config = () =>
    loadOutpostConfig(
      {},
      {
        env: {
          GATEHOUSE_HOST: `http://127.0.0.1:${server.server.port}`,
          GATEHOUSE_TOKEN: key,
          GATEHOUSE_DATA_DIR: dataDir,
          GATEHOUSE_LISTEN__METRICS: "127.0.0.1:0",
        },
      },
    ).values;

  beforeAll(async () => {
    t = await startTestCore("sqlite");
    server = startServer(t.core, memoryLogger("warn"), "127.0.0.1:0");
    dataDir = mkdtempSync(join(tmpdir(), "gatehouse-outpost-"));
    outpost = (
      await t.api("POST", "/api/v3/outposts/instances/", {
        body: { name: "probe", type: "ldap", providers: [], config: {} },
      })
    ).body;
    key = (await t.api("GET", `/api/v3/core/tokens/ak-outpost-${outpost.pk}-api/view_key/`)).body.key;
  });
  afterAll(async () => {
    await server.stop();
    await t.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("connects, says HELLO, refreshes on TRIGGER_UPDATE, and serves ping and metrics", async () => {
    const { kind, seen } = probeKind();
    const running = await runOutpost(kind, config(), {
      log: memoryLogger("warn"),
      signals: false,
      reloadOffsetMs: 0,
    });
    expect(seen.started).toEqual([{ name: "probe", log_level: "info" }]);
    await until(
      async () => (await t.api("GET", `/api/v3/outposts/instances/${outpost.pk}/health/`)).body.length === 1,
    );
    const health = (await t.api("GET", `/api/v3/outposts/instances/${outpost.pk}/health/`)).body[0];
    expect(health.uid).toBe(running.instance);

    await t.api("PATCH", `/api/v3/outposts/instances/${outpost.pk}/`, {
      body: { config: { log_level: "debug" } },
    });
    await until(() => seen.refreshed.length > 0);
    expect(seen.refreshed.at(-1)).toEqual({ name: "probe", log_level: "debug" });

    const ping = await fetch(`http://127.0.0.1:${running.metricsPort}/outpost.goauthentik.io/ping`, {
      method: "HEAD",
    });
    expect(ping.status).toBe(204);
    const metrics = await (await fetch(`http://127.0.0.1:${running.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^gatehouse_outpost_connection 1$/m);
    // authentik's own gauges, with its labels, for dashboards and alerts written for its outposts.
    const sample = (name: string) => {
      const line = metrics.split("\n").find((l) => l.startsWith(`${name}{`)) ?? "";
      const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      return { labels, value: Number(line.slice(line.lastIndexOf(" ") + 1)) };
    };
    const ids = { outpost_name: "probe", outpost_type: "ldap", uuid: outpost.pk };
    expect(sample("authentik_outpost_connection")).toEqual({ labels: ids, value: 1 });
    expect(sample("authentik_outpost_info").labels).toMatchObject({ ...ids, build: "" });
    expect(sample("authentik_outpost_info").labels.version).toBeString();
    expect(sample("authentik_outpost_last_update").value).toBeGreaterThan(Date.now() / 1000 - 60);
    await running.stop();
  });

  test("a TRIGGER_UPDATE naming users or groups is applied by fetching only those, at once", async () => {
    const { kind, seen } = probeKind();
    const changes: unknown[] = [];
    let fetches = 0;
    const partial: OutpostKind<{ name: string; log_level: unknown; users?: number[] }> = {
      ...kind,
      fetch: async (api, o) => {
        fetches++;
        return kind.fetch(api, o);
      },
      update: async (_api, current, change) => {
        changes.push(change);
        return { ...current, users: change.users };
      },
    };
    // A full refresh would wait 60 s: anything that arrives sooner came through update().
    const running = await runOutpost(partial, config(), {
      log: memoryLogger("warn"),
      signals: false,
      reloadOffsetMs: 60_000,
    });
    await until(async () =>
      (await t.api("GET", `/api/v3/outposts/instances/${outpost.pk}/health/`)).body.some(
        (h: { uid: string }) => h.uid === running.instance,
      ),
    );
    // An outpost that serves users hears about user changes (this one has no providers: it is LDAP).
    const created = await t.api("POST", "/api/v3/core/users/", { body: { username: "partial", name: "P" } });
    await until(() => seen.refreshed.length > 0);
    expect(changes).toEqual([{ users: [created.body.pk], groups: [] }]);
    expect(seen.refreshed.at(-1)).toMatchObject({ users: [created.body.pk] });
    // A password change names no directory object: caches go, nothing is fetched.
    await t.api("POST", `/api/v3/core/users/${created.body.pk}/set_password/`, {
      body: { password: "x-Very-long-1" },
    });
    await Bun.sleep(300);
    expect(changes).toHaveLength(1);
    expect(fetches).toBe(1);
    const metrics = await (await fetch(`http://127.0.0.1:${running.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^gatehouse_outpost_updates_total\{kind="partial"\} 1$/m);
    expect(metrics).toMatch(/^gatehouse_outpost_resident_memory_bytes \d+/m);
    await running.stop();
    await t.api("DELETE", `/api/v3/core/users/${created.body.pk}/`);
  });

  test("with the core away, starts from the last good configuration on disk", async () => {
    const { kind, seen } = probeKind();
    const away = { ...config(), host: "http://127.0.0.1:9" };
    const running = await runOutpost(kind, away, { log: memoryLogger("warn"), signals: false });
    expect(seen.started).toHaveLength(1);
    expect(seen.started[0]).toMatchObject({ name: "probe", log_level: "debug" });
    expect(await running.refresh()).toBe(false);
    await running.stop();
  });

  test("a token revoked while running: the outpost stops serving and drops its disk cache", async () => {
    const own = (
      await t.api("POST", "/api/v3/outposts/instances/", {
        body: { name: "revoked", type: "ldap", providers: [], config: {} },
      })
    ).body;
    const ownKey = (await t.api("GET", `/api/v3/core/tokens/ak-outpost-${own.pk}-api/view_key/`)).body.key;
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-revoked-"));
    const { kind } = probeKind();
    let revoked = 0;
    let invalidated = 0;
    const running = await runOutpost(
      { ...kind, revoked: () => void revoked++, invalidate: () => void invalidated++ },
      { ...config(), token: ownKey, data_dir: dir },
      { log: memoryLogger("error"), signals: false },
    );
    expect(await Bun.file(join(dir, "outpost-ldap.json")).exists()).toBe(true);
    expect((await t.api("DELETE", `/api/v3/outposts/instances/${own.pk}/`)).status).toBe(204);
    expect(await running.refresh()).toBe(false);
    expect(revoked).toBe(1);
    expect(invalidated).toBeGreaterThanOrEqual(1);
    expect(await Bun.file(join(dir, "outpost-ldap.json")).exists()).toBe(false);
    await running.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a refused token is an error, not a retry loop", async () => {
    const { kind } = probeKind();
    await expect(
      runOutpost(kind, { ...config(), token: "wrong" }, { log: memoryLogger("warn"), signals: false }),
    ).rejects.toThrow(/refused/);
  });
});
