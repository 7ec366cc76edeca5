import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { confirmDevice, createTotpDevice, totpCode } from "../../core/src/authenticators/devices.ts";
import { startServer } from "../../core/src/http/server.ts";
import { type EmbeddedOutposts, startEmbeddedOutposts } from "../../core/src/outposts/embedded.ts";
import { radiusCodec } from "../../outposts/radius/dictionary.ts";
import { memoryLogger } from "../../shared/log.ts";
import { startTestCore, type TestCore } from "../support/core.ts";
import { outpostCommand } from "../support/outposts.ts";
import { freePort } from "../support/process.ts";
import { needTool, run } from "../support/tools.ts";

const ready = needTool("radclient", "apt-get install freeradius-utils");
const SECRET = "local-secret-1";
const WIDE_SECRET = "wide-secret-1";

for (const mode of ["binary", "bun run", "embedded"] as const)
  describe.skipIf(!ready)(`the RADIUS outpost (${mode}) against radclient`, () => {
    let t: TestCore;
    let core: ReturnType<typeof startServer>;
    let outpost: Subprocess | undefined;
    let embedded: EmbeddedOutposts | undefined;
    let dataDir = "";
    let port = 0;
    let metricsPort = 0;

    /** One Access-Request; the reply's code and attributes as radclient prints them. */
    const radius = async (attrs: string, secret = SECRET) => {
      const res = await run(
        ["radclient", "-x", "-r", "1", "-t", "2", `127.0.0.1:${port}`, "auth", secret],
        `${attrs}\n`,
      );
      const out = res.stdout + res.stderr;
      const code = /Received (Access-\w+)/.exec(out)?.[1] ?? "none";
      return { code, out };
    };
    const pap = (user: string, password: string, extra = ", Message-Authenticator = 0x00") =>
      radius(`User-Name = "${user}", User-Password = "${password}"${extra}`);

    beforeAll(async () => {
      port = await freePort();
      t = await startTestCore("sqlite", { "listen.radius": `127.0.0.1:${port}` });
      core = startServer(t.core, memoryLogger("warn"), "127.0.0.1:0");
      const api = async (method: string, path: string, body?: unknown) =>
        (await t.api(method, path, body === undefined ? {} : { body })).body;
      const auth = (await api("GET", "/api/v3/flows/instances/default-authentication-flow/")).pk;
      const logout = (await api("GET", "/api/v3/flows/instances/default-invalidation-flow/")).pk;
      const vlan = await api("POST", "/api/v3/propertymappings/provider/radius/", {
        name: "vlan",
        expression:
          '{"Tunnel-Type": "VLAN", "Tunnel-Medium-Type": "IEEE-802", "Tunnel-Private-Group-Id": "staff" in user.groups ? "42" : "10", "Filter-Id": "from-gatehouse", "Session-Timeout": 3600, "Class": user.username, "Cisco-AVPair": ["shell:priv-lvl=15"]}',
      });
      const broken = await api("POST", "/api/v3/propertymappings/provider/radius/", {
        name: "broken-for-dot",
        expression: 'user.username == "dot" ? {"No-Such-Attribute": "x"} : {}',
      });
      expect(vlan.pk).toBeString();
      // The most specific network (127.0.0.1/32) wins over the wide one for requests from localhost.
      const provider = await api("POST", "/api/v3/providers/radius/", {
        name: "radius-local",
        authorization_flow: auth,
        invalidation_flow: logout,
        client_networks: "127.0.0.0/8, 127.0.0.1/32",
        shared_secret: SECRET,
        property_mappings: [vlan.pk, broken.pk],
      });
      const wide = await api("POST", "/api/v3/providers/radius/", {
        name: "radius-wide",
        authorization_flow: auth,
        invalidation_flow: logout,
        client_networks: "0.0.0.0/0, ::/0",
        shared_secret: WIDE_SECRET,
      });
      await api("POST", "/api/v3/core/applications/", { name: "VPN", slug: "vpn", provider: provider.pk });
      await api("POST", "/api/v3/core/applications/", { name: "Wifi", slug: "wifi", provider: wide.pk });
      // The embedded outpost exists in every core; it serves the providers once they are assigned.
      const out =
        mode === "embedded"
          ? await api(
              "PATCH",
              `/api/v3/outposts/instances/${(await api("GET", "/api/v3/outposts/instances/?managed__iexact=goauthentik.io/outposts/embedded-radius")).results[0].pk}/`,
              { providers: [provider.pk, wide.pk] },
            )
          : await api("POST", "/api/v3/outposts/instances/", {
              name: "radius",
              type: "radius",
              providers: [provider.pk, wide.pk],
              config: {},
            });
      const key = (await api("GET", `/api/v3/core/tokens/${out.token_identifier}/view_key/`)).key;
      const staff = await api("POST", "/api/v3/core/groups/", { name: "staff" });
      for (const [username, groups] of [
        ["bea", [staff.pk]],
        ["cal", []],
        ["dot", []],
        ["eve", []],
      ] as const) {
        const u = await api("POST", "/api/v3/core/users/", { username, name: username, groups });
        await t.api("POST", `/api/v3/core/users/${u.pk}/set_password/`, {
          body: { password: `${username}-secret-1` },
        });
      }
      dataDir = mkdtempSync(join(tmpdir(), "gatehouse-radius-"));
      metricsPort = await freePort();
      if (mode === "embedded") {
        embedded = await startEmbeddedOutposts(
          t.core.ctx,
          `http://127.0.0.1:${core.server.port}`,
          memoryLogger("warn"),
        );
        return;
      }
      outpost = Bun.spawn(await outpostCommand("radius", mode, dataDir), {
        env: {
          PATH: process.env.PATH,
          GATEHOUSE_HOST: `http://127.0.0.1:${core.server.port}`,
          GATEHOUSE_TOKEN: key,
          GATEHOUSE_DATA_DIR: dataDir,
          GATEHOUSE_LISTEN__RADIUS: `127.0.0.1:${port}`,
          GATEHOUSE_LISTEN__METRICS: `127.0.0.1:${metricsPort}`,
          GATEHOUSE_LOG__LEVEL: "warn",
        },
        stdout: "ignore",
        stderr: "inherit",
      });
      for (let i = 0; i < 100; i++) {
        const res = await fetch(`http://127.0.0.1:${metricsPort}/outpost.goauthentik.io/ping`).catch(
          () => null,
        );
        if (res?.status === 204) break;
        await Bun.sleep(100);
      }
    }, 90_000);

    afterAll(async () => {
      outpost?.kill("SIGTERM");
      await outpost?.exited;
      await embedded?.stop();
      await core?.stop();
      await t?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    const metric = async (outcome: string) => {
      const text = embedded
        ? ((await embedded.running("radius")?.metrics()) ?? "")
        : await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return Number(
        new RegExp(`gatehouse_radius_requests_total\\{outcome="${outcome}"\\} (\\d+)`).exec(text)?.[1] ?? 0,
      );
    };

    test("accepts the right password, with the mapping's reply attributes and a VLAN", async () => {
      const ok = await pap("bea", "bea-secret-1");
      expect(ok.code, ok.out).toBe("Access-Accept");
      expect(ok.out).toMatch(/Tunnel-Private-Group-Id(:0)? = "42"/);
      expect(ok.out).toMatch(/Tunnel-Type(:0)? = VLAN/);
      expect(ok.out).toMatch(/Tunnel-Medium-Type(:0)? = IEEE-802/);
      expect(ok.out).toContain('Filter-Id = "from-gatehouse"');
      expect(ok.out).toContain("Session-Timeout = 3600");
      expect(ok.out).toContain('Cisco-AVPair = "shell:priv-lvl=15"');
      expect(ok.out).toContain("Message-Authenticator = ");
      // Not in staff: another VLAN. The second answer comes from the credential cache.
      expect((await pap("cal", "cal-secret-1")).out).toMatch(/Tunnel-Private-Group-Id(:0)? = "10"/);
      expect((await pap("cal", "cal-secret-1")).out).toMatch(/Tunnel-Private-Group-Id(:0)? = "10"/);
    });

    test("rejects a wrong password with a Reply-Message, counts it and lowers the reputation", async () => {
      const score = async () =>
        Number(
          (await t.api("GET", "/api/v3/policies/reputation/scores/?identifier=bea&ip=127.0.0.1")).body
            .results[0]?.score ?? 0,
        );
      const before = await metric("reject_invalid");
      const scoreBefore = await score();
      const wrong = await pap("bea", "nope");
      expect(wrong.code).toBe("Access-Reject");
      expect(wrong.out).toContain('Reply-Message = "Invalid credentials"');
      expect(await metric("reject_invalid")).toBe(before + 1);
      // The failure counts against bea's reputation from the NAS's address, as a failed web login would.
      expect(await score()).toBe(scoreBefore - 1);
      const failed = await t.api("GET", "/api/v3/events/events/?action=login_failed");
      expect(failed.body.results[0]?.client_ip).toBe("127.0.0.1");
    });

    test("rejects an Access-Request without Message-Authenticator (BlastRADIUS)", async () => {
      const legacy = await pap("bea", "bea-secret-1", "");
      expect(legacy.code).toBe("Access-Reject");
      expect(legacy.out).toContain("Message-Authenticator is required");
    });

    test("chooses the shared secret of the most specific client network", async () => {
      // From 127.0.0.1 the /32 provider answers; a packet signed with the wide provider's secret is dropped.
      const wide = await radius(
        'User-Name = "bea", User-Password = "bea-secret-1", Message-Authenticator = 0x00',
        WIDE_SECRET,
      );
      expect(wide.code).toBe("none");
      expect(await metric("drop_bad_authenticator")).toBeGreaterThan(0);
    });

    test("a failing property mapping rejects the request and records property_mapping_exception", async () => {
      const res = await pap("dot", "dot-secret-1");
      expect(res.code).toBe("Access-Reject");
      const events = await t.api("GET", "/api/v3/events/events/?action=property_mapping_exception");
      expect(events.body.results.length).toBeGreaterThan(0);
    });

    test("garbage, truncated and unknown packets are dropped and counted; good requests still answered", async () => {
      const sock = createSocket("udp4");
      const send = (b: Buffer) =>
        new Promise<void>((resolve) => sock.send(b, port, "127.0.0.1", () => resolve()));
      await send(Buffer.from("hello, this is not RADIUS"));
      await send(Buffer.from([1, 2, 0, 200, ...Array(16).fill(0)])); // length larger than the datagram
      await send(Buffer.from([1, 3, 0, 22, ...Array(16).fill(0), 1, 0])); // attribute length 0
      await send(Buffer.from([42, 4, 0, 20, ...Array(16).fill(0)])); // unknown code
      await send(Buffer.alloc(5000, 1));
      // A client that is gone before its reply arrives (the reply meets ICMP port unreachable).
      await send(
        radiusCodec().encode({
          code: "Access-Request",
          identifier: 7,
          secret: SECRET,
          attributes: [
            ["User-Name", "bea"],
            ["User-Password", "wrong-password"],
          ],
          add_message_authenticator: true,
        }),
      );
      sock.close();
      await Bun.sleep(500);
      await Bun.sleep(100);
      expect(await metric("drop_malformed")).toBeGreaterThanOrEqual(3);
      expect(await metric("drop_unknown_code")).toBeGreaterThanOrEqual(1);
      expect(await metric("reply_undeliverable")).toBeGreaterThanOrEqual(1);
      expect((await pap("bea", "bea-secret-1")).code).toBe("Access-Accept");
      expect(outpost?.exitCode ?? null).toBeNull();
    });

    test("Status-Server (RFC 5997) is answered for monitoring, only with a valid Message-Authenticator", async () => {
      const status = (secret: string, attrs: string) =>
        run(["radclient", "-x", "-r", "1", "-t", "2", `127.0.0.1:${port}`, "status", secret], `${attrs}\n`);
      const ok = await status(SECRET, "Message-Authenticator = 0x00");
      expect(ok.stdout + ok.stderr).toContain("Received Access-Accept");
      const wrong = await status("not-the-secret", "Message-Authenticator = 0x00");
      expect(wrong.stdout + wrong.stderr).not.toContain("Received");
      expect(await metric("status")).toBeGreaterThanOrEqual(1);
    });

    test("MFA: password;code, and password then Access-Challenge then code", async () => {
      const ctx = t.core.ctx;
      const eve = (await t.api("GET", "/api/v3/core/users/?username=eve")).body.results[0];
      const { device, secret } = await createTotpDevice(ctx, ctx.store.db, eve.pk, "phone");
      await confirmDevice(ctx, ctx.store.db, device.id);
      try {
        expect((await pap("eve", "eve-secret-1;000000")).code).toBe("Access-Reject");
        const inline = await pap("eve", `eve-secret-1;${totpCode(secret, new Date())}`);
        expect(inline.code, inline.out).toBe("Access-Accept");
        const first = await pap("eve", "eve-secret-1");
        expect(first.code, first.out).toBe("Access-Challenge");
        const state = /State = (0x[0-9a-f]+)/.exec(first.out)?.[1];
        expect(state).toBeString();
        const code = totpCode(secret, new Date(Date.now() + 30_000));
        const second = await pap("eve", code, `, State = ${state}, Message-Authenticator = 0x00`);
        expect(second.code, second.out).toBe("Access-Accept");
        // A State is single-use.
        expect((await pap("eve", code, `, State = ${state}, Message-Authenticator = 0x00`)).code).toBe(
          "Access-Reject",
        );
      } finally {
        await ctx.store.db.deleteFrom("authenticator_devices").where("id", "=", device.id).execute();
      }
    });

    const waitFor = async (check: () => Promise<boolean>, ms = 3000) => {
      const end = Date.now() + ms;
      while (!(await check())) {
        if (Date.now() > end) return false;
        await Bun.sleep(50);
      }
      return true;
    };

    test("a password change takes effect at once, cached or not", async () => {
      expect((await pap("cal", "cal-secret-1")).code).toBe("Access-Accept");
      const cal = (await t.api("GET", "/api/v3/core/users/?username=cal")).body.results[0];
      await t.api("POST", `/api/v3/core/users/${cal.pk}/set_password/`, {
        body: { password: "cal-secret-2" },
      });
      expect(
        await waitFor(async () => (await pap("cal", "cal-secret-1")).code === "Access-Reject", 2000),
      ).toBe(true);
      expect((await pap("cal", "cal-secret-2")).code).toBe("Access-Accept");
    });

    // (Not for the embedded outpost: it goes down with its core.)
    if (mode !== "embedded")
      test("with the core down, cached users are accepted; new ones rejected saying why", async () => {
        expect((await pap("bea", "bea-secret-1")).code).toBe("Access-Accept");
        const corePort = core.server.port;
        await core.stop();
        try {
          const cached = await pap("bea", "bea-secret-1");
          expect(cached.code).toBe("Access-Accept");
          expect(cached.out).toMatch(/Tunnel-Private-Group-Id(:0)? = "42"/);
          const fresh = await pap("eve", "eve-secret-1");
          expect(fresh.code).toBe("Access-Reject");
          expect(fresh.out).toContain("cannot be reached");
        } finally {
          core = startServer(t.core, memoryLogger("warn"), `127.0.0.1:${corePort}`);
        }
      }, 30_000);
  });
