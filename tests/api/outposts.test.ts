import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createCore } from "../../core/src/core.ts";
import { startServer } from "../../core/src/http/server.ts";
import { ensureEmbeddedOutposts } from "../../core/src/outposts/embedded.ts";
import { postgresTestUrl } from "../../core/src/store/testing.ts";
import { memoryLogger } from "../../shared/log.ts";
import { ADMIN_TOKEN, backendNames, startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";

/** A control-channel client the way authentik's outposts open one. */
function connect(base: string, outpost: string, token: string, instance = crypto.randomUUID()) {
  const frames: { instruction: number; args: Record<string, unknown> }[] = [];
  const ws = new WebSocket(
    `${base.replace("http", "ws")}/ws/outpost/${outpost}/?instance_uuid=${instance}&attempt=1`,
    {
      headers: { authorization: `Bearer ${token}`, "user-agent": "goauthentik.io/outpost/2026.2.2" },
    } as unknown as string[],
  );
  const opened = new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("websocket refused"));
  });
  const closed = new Promise<number>((resolve) => {
    ws.onclose = (e) => resolve(e.code);
  });
  ws.onmessage = (e) => frames.push(JSON.parse(String(e.data)));
  const waitFor = async (instruction: number, after = 0) => {
    for (let i = 0; i < 200; i++) {
      const found = frames.slice(after).find((f) => f.instruction === instruction);
      if (found) return found;
      await Bun.sleep(10);
    }
    throw new Error(`no frame with instruction ${instruction}`);
  };
  return { ws, frames, opened, closed, waitFor, instance };
}

for (const backend of backendNames()) {
  describe(`outposts and the control channel on ${backend}`, () => {
    let t: TestCore;
    let server: ReturnType<typeof startServer>;
    let base = "";
    let now = new Date();
    const clock = () => new Date(now);

    beforeAll(async () => {
      t = await startTestCore(backend, {}, clock);
      server = startServer(t.core, memoryLogger("warn"), "127.0.0.1:0");
      base = `http://127.0.0.1:${server.server.port}`;
    });
    afterAll(async () => {
      await server.stop();
      await t.stop();
    });

    const createOutpost = async (name: string) => {
      const res = await t.api("POST", "/api/v3/outposts/instances/", {
        body: { name, type: "ldap", providers: [], config: { log_level: "debug" } },
      });
      expect(res.status, res.text).toBe(201);
      const key = (await t.api("GET", `/api/v3/core/tokens/${res.body.token_identifier}/view_key/`)).body
        .key as string;
      return { outpost: res.body, key };
    };

    test("an outpost gets a service account and a managed token readable through view_key", async () => {
      const { outpost, key } = await createOutpost("ldap-one");
      expect(outpost).toMatchObject({
        name: "ldap-one",
        type: "ldap",
        providers: [],
        refresh_interval_s: 300,
        managed: null,
      });
      expect(outpost.token_identifier).toBe(`ak-outpost-${outpost.pk}-api`);
      expect(outpost.config).toMatchObject({
        log_level: "debug",
        refresh_interval: "minutes=5",
        authentik_host: "",
      });
      const account = await t.api(
        "GET",
        `/api/v3/core/users/?username=ak-outpost-${outpost.pk.replaceAll("-", "")}`,
      );
      expect(account.body.results[0]).toMatchObject({
        type: "internal_service_account",
        path: "goauthentik.io/outposts",
      });
      const token = await t.api("GET", `/api/v3/core/tokens/${outpost.token_identifier}/`);
      expect(token.body).toMatchObject({
        intent: "api",
        expiring: false,
        managed: `goauthentik.io/outpost/${outpost.token_identifier}`,
      });

      // The outpost's token sees its own outpost and nothing else.
      await createOutpost("ldap-two");
      const mine = await t.api("GET", "/api/v3/outposts/instances/", { token: key });
      expect(mine.body.results.map((o: { name: string }) => o.name)).toEqual(["ldap-one"]);
      expect(
        (await t.api("GET", "/api/v3/outposts/instances/", { body: undefined })).body.pagination.count,
      ).toBe(5); // with the embedded LDAP, RADIUS and proxy ones
      expect((await t.api("GET", "/api/v3/root/config/", { token: key })).body).toMatchObject({
        cache_timeout: 300,
        capabilities: [],
      });
      expect(
        (
          await t.api("POST", "/api/v3/outposts/instances/", {
            token: key,
            body: { name: "x", type: "ldap", providers: [], config: {} },
          })
        ).status,
      ).toBe(403);
    });

    test("every core has a managed embedded LDAP outpost, re-made at start if deleted", async () => {
      const find = async (core: TestCore) =>
        (
          await core.api(
            "GET",
            "/api/v3/outposts/instances/?managed__iexact=goauthentik.io/outposts/embedded-ldap",
          )
        ).body.results as { pk: string; name: string; type: string; token_identifier: string }[];
      const [embedded] = await find(t);
      expect(embedded?.name).toBe("Embedded LDAP Outpost");
      expect(embedded?.type).toBe("ldap");
      expect((await t.api("GET", `/api/v3/core/tokens/${embedded?.token_identifier}/view_key/`)).status).toBe(
        200,
      );
      // A PATCH of only the providers (the usual way to hand it a provider) changes just those.
      const flows = (await t.api("GET", "/api/v3/flows/instances/?slug=default-authentication-flow")).body
        .results;
      const provider = await t.api("POST", "/api/v3/providers/ldap/", {
        body: {
          name: "embedded-ldap",
          authorization_flow: flows[0].pk,
          invalidation_flow: flows[0].pk,
          base_dn: "dc=embedded,dc=test",
        },
      });
      expect(provider.status, provider.text).toBe(201);
      const patched = await t.api("PATCH", `/api/v3/outposts/instances/${embedded?.pk}/`, {
        body: { providers: [provider.body.pk] },
      });
      expect(patched.status, patched.text).toBe(200);
      expect(patched.body.providers).toEqual([provider.body.pk]);
      expect(patched.body.name).toBe("Embedded LDAP Outpost");
      expect((await t.api("DELETE", `/api/v3/outposts/instances/${embedded?.pk}/`)).status).toBe(204);
      expect(await find(t)).toHaveLength(0);
      // What every start does:
      await ensureEmbeddedOutposts(t.core.ctx);
      const [again] = await find(t);
      expect(again?.name).toBe("Embedded LDAP Outpost");
      expect(again?.pk).not.toBe(embedded?.pk);
      await t.api("DELETE", `/api/v3/providers/ldap/${provider.body.pk}/`);
    });

    test("bad outpost settings are refused", async () => {
      const res = await t.api("POST", "/api/v3/outposts/instances/", {
        body: {
          name: "bad",
          type: "ldap",
          providers: [999],
          config: { refresh_interval: "soon", colour: "red" },
        },
      });
      expect(res.status).toBe(400);
      expect(res.body.providers[0]).toMatch(/does not exist/);
      expect(res.body.config.join(" ")).toMatch(/refresh_interval/);
      expect(res.body.config.join(" ")).toMatch(/colour/);
    });

    test("HELLO is acknowledged and makes the instance healthy for 15 seconds", async () => {
      const { outpost, key } = await createOutpost("ldap-health");
      const c = connect(base, outpost.pk, key);
      await c.opened;
      c.ws.send(
        JSON.stringify({
          instruction: 1,
          args: { version: "2026.2.2", buildHash: "abc", uuid: c.instance, hostname: "edge-1" },
        }),
      );
      expect(await c.waitFor(0)).toEqual({ instruction: 0, args: {} });
      const health = await t.api("GET", `/api/v3/outposts/instances/${outpost.pk}/health/`, { token: key });
      expect(health.body).toHaveLength(1);
      expect(health.body[0]).toMatchObject({
        uid: c.instance,
        version: "2026.2.2",
        hostname: "edge-1",
        build_hash: "abc",
      });
      now = new Date(now.getTime() + 16_000);
      expect((await t.api("GET", `/api/v3/outposts/instances/${outpost.pk}/health/`)).body).toHaveLength(0);
      c.ws.close();
    });

    test("changing the outpost sends TRIGGER_UPDATE to its instances only", async () => {
      const a = await createOutpost("ldap-a");
      const b = await createOutpost("ldap-b");
      const ca = connect(base, a.outpost.pk, a.key);
      const cb = connect(base, b.outpost.pk, b.key);
      await Promise.all([ca.opened, cb.opened]);
      const res = await t.api("PATCH", `/api/v3/outposts/instances/${a.outpost.pk}/`, {
        body: { config: { log_level: "warn" } },
      });
      expect(res.status).toBe(200);
      expect(await ca.waitFor(2)).toEqual({ instruction: 2, args: {} });
      await Bun.sleep(50);
      expect(cb.frames.filter((f) => f.instruction === 2)).toHaveLength(0);
      ca.ws.close();
      cb.ws.close();
    });

    test("the control channel refuses other outposts' tokens, bad tokens and garbage frames", async () => {
      const a = await createOutpost("ldap-c");
      const b = await createOutpost("ldap-d");
      await expect(connect(base, a.outpost.pk, b.key).opened).rejects.toThrow();
      await expect(connect(base, a.outpost.pk, "not-a-token").opened).rejects.toThrow();
      const admin = connect(base, a.outpost.pk, ADMIN_TOKEN);
      await admin.opened;
      admin.ws.send("{not json");
      expect(await admin.closed).toBe(1003);
      // The core keeps serving.
      expect((await fetch(`${base}/-/health/live/`)).status).toBe(204);
    });

    test("ending a browser session sends SESSION_END with the session's hash", async () => {
      const { outpost, key } = await createOutpost("proxy-sessions");
      const c = connect(base, outpost.pk, key);
      await c.opened;
      const browser = new FlowClient((r) => t.core.app.handle(r));
      expect(
        (await browser.login("default-authentication-flow", "akadmin", "akadmin-password")).component,
      ).toBe("xak-flow-redirect");
      const signOut = await browser.get("default-invalidation-flow");
      expect(signOut.component).toBe("xak-flow-redirect");
      const frame = await c.waitFor(4);
      expect(frame.args.session_id).toMatch(/^[0-9a-f]{64}$/);
      c.ws.close();
    });

    test("deleting an outpost revokes its token at once", async () => {
      const { outpost, key } = await createOutpost("ldap-gone");
      expect((await t.api("DELETE", `/api/v3/outposts/instances/${outpost.pk}/`)).status).toBe(204);
      expect((await t.api("GET", "/api/v3/outposts/instances/", { token: key })).status).toBe(403);
    });
  });
}

describe.skipIf(!postgresTestUrl)("outpost signals across core replicas on postgres", () => {
  test("a change made through one replica reaches an outpost connected to another", async () => {
    const a = await startTestCore("postgres");
    const b = await createCore(a.config, memoryLogger("warn"));
    const server = startServer(a.core, memoryLogger("warn"), "127.0.0.1:0");
    try {
      const created = await a.api("POST", "/api/v3/outposts/instances/", {
        body: { name: "replicated", type: "ldap", providers: [], config: {} },
      });
      const key = (await a.api("GET", `/api/v3/core/tokens/ak-outpost-${created.body.pk}-api/view_key/`)).body
        .key as string;
      const c = connect(`http://127.0.0.1:${server.server.port}`, created.body.pk, key);
      await c.opened;
      // Through replica B, which the outpost is not connected to.
      const res = await b.app.handle(
        new Request(`http://localhost/api/v3/outposts/instances/${created.body.pk}/`, {
          method: "PATCH",
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ config: { log_level: "warn" } }),
        }),
      );
      expect(res.status).toBe(200);
      expect(await c.waitFor(2)).toEqual({ instruction: 2, args: {} });
      c.ws.close();
    } finally {
      await server.stop();
      await b.close();
      await a.stop();
    }
  });
});
