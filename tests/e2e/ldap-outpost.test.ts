import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { confirmDevice, createTotpDevice, totpCode } from "../../core/src/authenticators/devices.ts";
import { startServer } from "../../core/src/http/server.ts";
import { type EmbeddedOutposts, startEmbeddedOutposts } from "../../core/src/outposts/embedded.ts";
import { memoryLogger } from "../../shared/log.ts";
import { startTestCore, type TestCore } from "../support/core.ts";
import { outpostCommand } from "../support/outposts.ts";
import { freePort } from "../support/process.ts";
import { needTool, run } from "../support/tools.ts";

const BASE = "dc=ldap,dc=goauthentik,dc=io";
const ready = needTool("ldapsearch", "apt-get install ldap-utils");

for (const mode of ["binary", "bun run", "embedded"] as const)
  describe.skipIf(!ready)(`the LDAP outpost (${mode}) against ldapwhoami and ldapsearch`, () => {
    let t: TestCore;
    let core: ReturnType<typeof startServer>;
    let outpost: Subprocess | undefined;
    let embedded: EmbeddedOutposts | undefined;
    let dataDir = "";
    let url = "";
    let tlsUrl = "";
    let providerPk = 0;
    let metricsPort = 0;

    beforeAll(async () => {
      const port = await freePort();
      url = `ldap://127.0.0.1:${port}`;
      const tlsPort = await freePort();
      tlsUrl = `ldaps://127.0.0.1:${tlsPort}`;
      t = await startTestCore("sqlite", {
        "listen.ldap": `127.0.0.1:${port}`,
        "listen.ldaps": `127.0.0.1:${tlsPort}`,
      });
      core = startServer(t.core, memoryLogger("warn"), "127.0.0.1:0");
      const api = async (method: string, path: string, body?: unknown) =>
        (await t.api(method, path, body === undefined ? {} : { body })).body;
      const auth = (await api("GET", "/api/v3/flows/instances/default-authentication-flow/")).pk;
      const logout = (await api("GET", "/api/v3/flows/instances/default-invalidation-flow/")).pk;
      const provider = await api("POST", "/api/v3/providers/ldap/", {
        name: "ldap",
        authorization_flow: auth,
        invalidation_flow: logout,
      });
      providerPk = provider.pk;
      await api("POST", "/api/v3/core/applications/", { name: "LDAP", slug: "ldap", provider: provider.pk });
      // The embedded outpost exists in every core; it serves the provider once it is assigned.
      const out =
        mode === "embedded"
          ? await api(
              "PATCH",
              `/api/v3/outposts/instances/${(await api("GET", "/api/v3/outposts/instances/?search=Embedded")).results[0].pk}/`,
              { providers: [provider.pk] },
            )
          : await api("POST", "/api/v3/outposts/instances/", {
              name: "ldap",
              type: "ldap",
              providers: [provider.pk],
              config: {},
            });
      const key = (await api("GET", `/api/v3/core/tokens/${out.token_identifier}/view_key/`)).key;
      const staff = await api("POST", "/api/v3/core/groups/", { name: "staff" });
      const devs = await api("POST", "/api/v3/core/groups/", { name: "devs", parents: [staff.pk] });
      for (const [username, groups] of [
        ["bea", [devs.pk]],
        ["cal", []],
        ["dot", []],
      ] as const) {
        const u = await api("POST", "/api/v3/core/users/", {
          username,
          name: username.toUpperCase(),
          email: `${username}@example.test`,
          groups,
        });
        await t.api("POST", `/api/v3/core/users/${u.pk}/set_password/`, {
          body: { password: `${username}-secret-1` },
        });
      }
      // bea may search the whole directory.
      const role = await api("POST", "/api/v3/rbac/roles/", { name: "ldap-search" });
      await api("POST", `/api/v3/rbac/permissions/assigned_by_roles/${role.pk}/assign/`, {
        permissions: ["authentik_providers_ldap.search_full_directory"],
        model: "authentik_providers_ldap.ldapprovider",
        object_pk: String(provider.pk),
      });
      const bea = (await api("GET", "/api/v3/core/users/?username=bea")).results[0];
      await t.api("POST", `/api/v3/rbac/roles/${role.pk}/add_user/`, { body: { pk: bea.pk } });

      dataDir = mkdtempSync(join(tmpdir(), "gatehouse-ldap-"));
      metricsPort = await freePort();
      if (mode === "embedded") {
        embedded = await startEmbeddedOutposts(
          t.core.ctx,
          `http://127.0.0.1:${core.server.port}`,
          memoryLogger("warn"),
        );
      } else
        outpost = Bun.spawn(await outpostCommand("ldap", mode, dataDir), {
          env: {
            PATH: process.env.PATH,
            GATEHOUSE_HOST: `http://127.0.0.1:${core.server.port}`,
            GATEHOUSE_TOKEN: key,
            GATEHOUSE_DATA_DIR: dataDir,
            GATEHOUSE_LISTEN__LDAP: `127.0.0.1:${port}`,
            GATEHOUSE_LISTEN__LDAPS: `127.0.0.1:${tlsPort}`,
            GATEHOUSE_LISTEN__METRICS: `127.0.0.1:${metricsPort}`,
            GATEHOUSE_LOG__LEVEL: "warn",
          },
          stdout: "ignore",
          stderr: "inherit",
        });
      for (let i = 0; i < 100; i++) {
        const probe = await run(["ldapsearch", "-x", "-H", url, "-s", "base", "-b", "", "namingContexts"]);
        if (probe.code === 0) break;
        await Bun.sleep(100);
      }
    }, 60_000);

    afterAll(async () => {
      outpost?.kill("SIGTERM");
      await outpost?.exited;
      await embedded?.stop();
      await core?.stop();
      await t?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    const ldap = (tool: string, dn: string, password: string, ...args: string[]) =>
      run([
        tool,
        "-x",
        "-H",
        url,
        "-D",
        dn,
        "-w",
        password,
        ...(tool === "ldapsearch" ? ["-o", "ldif-wrap=no"] : []),
        ...args,
      ]);

    /** An anonymous base-scope search of one entry (the root DSE by default). */
    const baseEntry = (base: string, ...args: string[]) =>
      run(["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", url, "-s", "base", "-b", base, ...args]);

    test("the root DSE names the base DN", async () => {
      const res = await baseEntry("", "namingContexts", "vendorName");
      expect(res.code).toBe(0);
      expect(res.stdout).toContain(`namingContexts: DC=ldap,DC=goauthentik,DC=io`);
      expect(res.stdout).toContain("vendorName: goauthentik.io");
    });

    test("LDAPS answers binds over TLS with the outpost's own certificate", async () => {
      const bind = (password: string, verify: "never" | "demand") =>
        run(["ldapwhoami", "-x", "-H", tlsUrl, "-D", `cn=bea,ou=users,${BASE}`, "-w", password], undefined, {
          LDAPTLS_REQCERT: verify,
        });
      const ok = await bind("bea-secret-1", "never");
      expect(ok.code).toBe(0);
      expect(ok.stdout.trim()).toBe(`dn:cn=bea,ou=users,${BASE}`);
      expect((await bind("nope", "never")).code).toBe(49);
      // The certificate is self-signed: a client that checks it refuses the connection.
      expect((await bind("bea-secret-1", "demand")).code).toBe(255);
    });

    test("ldapwhoami binds with the right password and refuses a wrong one", async () => {
      const ok = await ldap("ldapwhoami", `cn=bea,ou=users,${BASE}`, "bea-secret-1");
      expect(ok.code, ok.stderr).toBe(0);
      const wrong = await ldap("ldapwhoami", `cn=bea,ou=users,${BASE}`, "nope");
      expect(wrong.code).toBe(49);
      const stranger = await ldap("ldapwhoami", "cn=bea,ou=users,dc=elsewhere", "bea-secret-1");
      expect(stranger.code).toBe(50);
      // The failed bind counts against bea's reputation from this address, as a failed web login would.
      const scores = await t.api("GET", "/api/v3/policies/reputation/scores/?identifier=bea&ip=127.0.0.1");
      expect(scores.body.results[0]?.score).toBeLessThan(0);
    });

    test("an app password binds in place of the password; revoking it locks it out at once", async () => {
      const cal = (await t.api("GET", "/api/v3/core/users/?username=cal")).body.results[0];
      const token = await t.api("POST", "/api/v3/core/tokens/", {
        body: {
          identifier: `cal-ldap-${mode.replace(" ", "-")}`,
          intent: "app_password",
          user: cal.pk,
          expiring: false,
        },
      });
      expect(token.status, token.text).toBe(201);
      const dn = `cn=cal,ou=users,${BASE}`;
      expect((await ldap("ldapwhoami", dn, token.body.key)).code).toBe(0);
      expect((await ldap("ldapwhoami", dn, token.body.key)).code).toBe(0); // cached
      expect((await t.api("DELETE", `/api/v3/core/tokens/${token.body.identifier}/`)).status).toBe(204);
      expect(await waitFor(async () => (await ldap("ldapwhoami", dn, token.body.key)).code === 49)).toBe(
        true,
      );
    });

    test("a user with the search permission sees everyone; memberOf includes inherited groups", async () => {
      const res = await ldap(
        "ldapsearch",
        `cn=bea,ou=users,${BASE}`,
        "bea-secret-1",
        "-LLL",
        "-b",
        BASE,
        "(objectClass=user)",
        "cn",
        "memberOf",
      );
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain(`dn: cn=cal,ou=users,${BASE}`);
      const bea = res.stdout.split("\n\n").find((block) => block.includes("dn: cn=bea,")) ?? "";
      expect(bea).toContain(`memberOf: cn=devs,ou=groups,${BASE}`);
      expect(bea).toContain(`memberOf: cn=staff,ou=groups,${BASE}`);
    });

    test("a user without it sees only themselves", async () => {
      const res = await ldap(
        "ldapsearch",
        `cn=cal,ou=users,${BASE}`,
        "cal-secret-1",
        "-LLL",
        "-b",
        BASE,
        "(objectClass=user)",
        "cn",
      );
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout.match(/^dn: /gm)).toHaveLength(1);
      expect(res.stdout).toContain(`dn: cn=cal,ou=users,${BASE}`);
    });

    test("cn=subschema lists the attribute types and object classes in use", async () => {
      const res = await baseEntry("cn=subschema", "(objectClass=*)", "+");
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain("attributeTypes: ( 1.2.840.113556.1.2.102 NAME 'memberOf'");
      expect(res.stdout).toContain("objectClasses: ( 1.3.6.1.1.1.2.0 NAME 'posixAccount'");
      // Operational: not sent unless asked for.
      const plain = await baseEntry("cn=subschema");
      expect(plain.stdout).toContain("cn: subschema");
      expect(plain.stdout).not.toContain("attributeTypes");
    });

    test("compare answers true or false over what the bound user may see", async () => {
      const bea = `cn=bea,ou=users,${BASE}`;
      const cmp = (dn: string, assertion: string, who = bea, password = "bea-secret-1") =>
        run(["ldapcompare", "-x", "-H", url, "-D", who, "-w", password, dn, assertion]);
      expect((await cmp(`cn=cal,ou=users,${BASE}`, "mail:CAL@example.test")).code).toBe(6);
      expect((await cmp(`cn=cal,ou=users,${BASE}`, "mail:bea@example.test")).code).toBe(5);
      expect((await cmp(`cn=cal,ou=users,${BASE}`, "telephoneNumber:1")).code).toBe(16);
      expect((await cmp(`cn=nobody,ou=users,${BASE}`, "cn:nobody")).code).toBe(32);
      // cal may not search the directory: bea's entry is not there for them.
      const cal = `cn=cal,ou=users,${BASE}`;
      expect((await cmp(bea, "cn:bea", cal, "cal-secret-1")).code).toBe(32);
      expect((await cmp(cal, "cn:cal", cal, "cal-secret-1")).code).toBe(6);
      const anonymous = await run(["ldapcompare", "-x", "-H", url, cal, "cn:cal"]);
      expect(anonymous.code).toBe(50);
    });

    test("anonymous searches and writes are refused", async () => {
      const anonymous = await run(["ldapsearch", "-x", "-H", url, "-b", BASE, "(cn=bea)"]);
      expect(anonymous.code).toBe(50);
      const add = await run(
        ["ldapadd", "-x", "-H", url, "-D", `cn=bea,ou=users,${BASE}`, "-w", "bea-secret-1"],
        `dn: cn=x,ou=users,${BASE}\nobjectClass: top\ncn: x\n`,
      );
      expect(add.code).toBe(53);
    });

    test("paged results (RFC 2696) return every entry once, page by page; size limits apply", async () => {
      const bea = `cn=bea,ou=users,${BASE}`;
      const dns = (out: string) =>
        out
          .split("\n")
          .filter((l) => l.startsWith("dn: "))
          .sort();
      const all = await ldap("ldapsearch", bea, "bea-secret-1", "-LLL", "-b", BASE, "(objectClass=*)", "1.1");
      expect(all.code, all.stderr).toBe(0);
      const paged = await ldap(
        "ldapsearch",
        bea,
        "bea-secret-1",
        "-b",
        BASE,
        "-E",
        "pr=2/noprompt",
        "(objectClass=*)",
        "1.1",
      );
      expect(paged.code, paged.stderr).toBe(0);
      expect(dns(paged.stdout)).toEqual(dns(all.stdout));
      expect(dns(all.stdout).length).toBeGreaterThan(6);
      // ldapsearch prints the server's cookie for every page but the last (where it is empty).
      const cookies = paged.stdout.match(/^pagedresults: cookie=\S+/gm) ?? [];
      expect(cookies.length).toBe(Math.ceil(dns(all.stdout).length / 2) - 1);
      // A critical paged control is understood; an unknown critical control is refused (12).
      const critical = await ldap(
        "ldapsearch",
        bea,
        "bea-secret-1",
        "-b",
        BASE,
        "-E",
        "!pr=3/noprompt",
        "(cn=*)",
        "1.1",
      );
      expect(critical.code).toBe(0);
      const unknown = await ldap("ldapsearch", bea, "bea-secret-1", "-b", BASE, "-E", "!1.2.3.4.5", "(cn=*)");
      expect(unknown.code).toBe(12);
      // -z 2: two entries, then sizeLimitExceeded (4), paged or not.
      const limited = await ldap(
        "ldapsearch",
        bea,
        "bea-secret-1",
        "-LLL",
        "-z",
        "2",
        "-b",
        BASE,
        "(objectClass=*)",
        "1.1",
      );
      expect(limited.code).toBe(4);
      expect(dns(limited.stdout).length).toBe(2);
      const limitedPaged = await ldap(
        "ldapsearch",
        bea,
        "bea-secret-1",
        "-LLL",
        "-z",
        "3",
        "-E",
        "pr=2/noprompt",
        "-b",
        BASE,
        "(objectClass=*)",
        "1.1",
      );
      expect(limitedPaged.code).toBe(4);
      expect(dns(limitedPaged.stdout).length).toBe(3);
    });

    test("TLS switches to the provider's certificate once it has one; clients that verify it accept it", async () => {
      // A pair made with openssl for 127.0.0.1, imported through the API.
      const keyFile = join(dataDir, "provider.key");
      const caFile = join(dataDir, "provider.pem");
      const made = await run([
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        keyFile,
        "-out",
        caFile,
        "-days",
        "30",
        "-subj",
        "/CN=ldap.gatehouse.test",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:ldap.gatehouse.test",
      ]);
      expect(made.code, made.stderr).toBe(0);
      const generated = await t.api("POST", "/api/v3/crypto/certificatekeypairs/", {
        body: {
          name: `ldap-${mode}`,
          certificate_data: await Bun.file(caFile).text(),
          key_data: await Bun.file(keyFile).text(),
        },
      });
      expect(generated.status, generated.text).toBe(201);
      const subject = async () => {
        const hello = await run(
          ["openssl", "s_client", "-connect", new URL(tlsUrl).host, "-servername", "ldap.gatehouse.test"],
          "",
        );
        const cert = await run(["openssl", "x509", "-noout", "-subject"], hello.stdout);
        return cert.stdout.trim();
      };
      expect(await subject()).toContain("Gatehouse LDAP");
      const patched = await t.api("PATCH", `/api/v3/providers/ldap/${providerPk}/`, {
        body: { certificate: generated.body.pk, tls_server_name: "ldap.gatehouse.test" },
      });
      expect(patched.status, patched.text).toBe(200);
      // Refresh now rather than after the runtime's random spread (SIGUSR1 does the same).
      if (embedded) await embedded.running("ldap")?.refresh();
      else outpost?.kill("SIGUSR1");
      let now = "";
      for (let i = 0; i < 100 && !now.includes("ldap.gatehouse.test"); i++) {
        now = await subject();
        if (!now.includes("ldap.gatehouse.test")) await Bun.sleep(100);
      }
      expect(now).toContain("ldap.gatehouse.test");
      const verify = { LDAPTLS_CACERT: caFile, LDAPTLS_REQCERT: "demand" };
      const port = new URL(tlsUrl).port;
      const plainPort = new URL(url).port;
      const bea = `cn=bea,ou=users,${BASE}`;
      const ldaps = await run(
        ["ldapwhoami", "-x", "-H", `ldaps://127.0.0.1:${port}`, "-D", bea, "-w", "bea-secret-1"],
        undefined,
        verify,
      );
      expect(ldaps.code, ldaps.stderr).toBe(0);
      const startTls = await run(
        ["ldapwhoami", "-x", "-ZZ", "-H", `ldap://127.0.0.1:${plainPort}`, "-D", bea, "-w", "bea-secret-1"],
        undefined,
        verify,
      );
      expect(startTls.code, startTls.stderr).toBe(0);
      // The outpost read the pair with its own token: allowed, because its provider uses it.
      await t.api("PATCH", `/api/v3/providers/ldap/${providerPk}/`, {
        body: { certificate: null, tls_server_name: "" },
      });
      if (embedded) await embedded.running("ldap")?.refresh();
      else outpost?.kill("SIGUSR1");
    });

    test("changes to users and groups arrive at once, fetched one by one", async () => {
      const bea = `cn=bea,ou=users,${BASE}`;
      const dot = (await t.api("GET", "/api/v3/core/users/?username=dot")).body.results[0];
      const dotEntry = async () =>
        (
          await ldap(
            "ldapsearch",
            bea,
            "bea-secret-1",
            "-LLL",
            "-b",
            BASE,
            "(cn=dot)",
            "displayName",
            "memberOf",
          )
        ).stdout;
      // Under two seconds: a full refresh would wait for its random 0–10 s spread.
      const soon = (check: (text: string) => boolean) => waitFor(async () => check(await dotEntry()), 2000);
      await t.api("PATCH", `/api/v3/core/users/${dot.pk}/`, { body: { name: "Dot Renamed" } });
      expect(await soon((e) => e.includes("displayName: Dot Renamed"))).toBe(true);
      const ops = await t.api("POST", "/api/v3/core/groups/", {
        body: { name: `ops-${mode.replace(" ", "-")}` },
      });
      await t.api("POST", `/api/v3/core/groups/${ops.body.pk}/add_user/`, { body: { pk: dot.pk } });
      expect(await soon((e) => e.includes(`memberOf: cn=${ops.body.name},ou=groups,`))).toBe(true);
      await t.api("DELETE", `/api/v3/core/groups/${ops.body.pk}/`);
      expect(await soon((e) => !e.includes(`cn=${ops.body.name},`))).toBe(true);
      await t.api("PATCH", `/api/v3/core/users/${dot.pk}/`, { body: { name: "DOT" } });
    });

    if (mode !== "embedded")
      test("/metrics reports the directory, the bind cache, memory and how updates were applied", async () => {
        const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        expect(text).toMatch(/^gatehouse_ldap_directory_entries\{provider="ldap"\} \d+$/m);
        expect(text).toMatch(/^gatehouse_ldap_cached_binds \d+$/m);
        expect(text).toMatch(/^gatehouse_outpost_resident_memory_bytes \d+/m);
        expect(text).toMatch(/^gatehouse_outpost_updates_total\{kind="partial"\} [1-9]/m);
      });

    test("StartTLS on the plain port, then a bind over TLS", async () => {
      const res = await run(
        ["ldapwhoami", "-x", "-ZZ", "-H", url, "-D", `cn=bea,ou=users,${BASE}`, "-w", "bea-secret-1"],
        undefined,
        { LDAPTLS_REQCERT: "never" },
      );
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout.trim()).toBe(`dn:cn=bea,ou=users,${BASE}`);
      const search = await run(
        [
          "ldapsearch",
          "-x",
          "-ZZ",
          "-LLL",
          "-H",
          url,
          "-D",
          `cn=bea,ou=users,${BASE}`,
          "-w",
          "bea-secret-1",
          "-b",
          BASE,
          "(cn=cal)",
          "cn",
        ],
        undefined,
        { LDAPTLS_REQCERT: "never" },
      );
      expect(search.code, search.stderr).toBe(0);
      expect(search.stdout).toContain(`dn: cn=cal,ou=users,${BASE}`);
      const dse = await baseEntry("", "supportedExtension");
      expect(dse.stdout).toContain("supportedExtension: 1.3.6.1.4.1.1466.20037");
    });

    test("garbage on the wire closes that connection only; the outpost keeps answering", async () => {
      const port = Number(new URL(url).port);
      const payloads = [
        Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        Buffer.from([0x30, 0x03, 0x02, 0x01]), // truncated
        Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01]), // claims 2 GiB
        Buffer.from([0x30, 0x05, 0x02, 0x01, 0x01, 0x77, 0x00]), // unknown operation
        crypto.getRandomValues(new Uint8Array(4096)),
      ];
      for (const payload of payloads) {
        const socket = await Bun.connect({
          hostname: "127.0.0.1",
          port,
          socket: { data() {}, close() {}, error() {} },
        });
        socket.write(payload);
        await Bun.sleep(50);
        socket.end();
      }
      // A message that claims 2 GiB and keeps coming is cut off, not buffered.
      let closed = false;
      const flood = await Bun.connect({
        hostname: "127.0.0.1",
        port,
        socket: {
          data() {},
          close() {
            closed = true;
          },
          error() {},
        },
      });
      flood.write(Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01]));
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      for (let i = 0; i < 32 && !closed; i++) {
        flood.write(chunk);
        await Bun.sleep(10);
      }
      for (let i = 0; i < 100 && !closed; i++) await Bun.sleep(20);
      expect(closed).toBe(true);
      flood.end();
      const ok = await ldap("ldapwhoami", `cn=cal,ou=users,${BASE}`, "cal-secret-1");
      expect(ok.code, ok.stderr).toBe(0);
      expect(outpost?.exitCode ?? null).toBeNull();
    });

    const waitFor = async (check: () => Promise<boolean>, ms = 3000) => {
      const end = Date.now() + ms;
      while (!(await check())) {
        if (Date.now() > end) return false;
        await Bun.sleep(50);
      }
      return true;
    };

    test("MFA in the password: password;code with a TOTP device", async () => {
      const ctx = t.core.ctx;
      const bea = (await t.api("GET", "/api/v3/core/users/?username=bea")).body.results[0];
      const { device, secret } = await createTotpDevice(ctx, ctx.store.db, bea.pk, "phone");
      await confirmDevice(ctx, ctx.store.db, device.id);
      try {
        const dn = `cn=bea,ou=users,${BASE}`;
        // The cache holds the password-only bind from before; a new device means a new answer is needed.
        await t.api("PATCH", `/api/v3/core/users/${bea.pk}/`, { body: { attributes: { mfa: true } } });
        await Bun.sleep(200);
        expect((await ldap("ldapwhoami", dn, "bea-secret-1")).code).toBe(49);
        expect((await ldap("ldapwhoami", dn, "bea-secret-1;000000")).code).toBe(49);
        expect((await ldap("ldapwhoami", dn, `bea-secret-1;${totpCode(secret, new Date())}`)).code).toBe(0);
      } finally {
        await ctx.store.db.deleteFrom("authenticator_devices").where("id", "=", device.id).execute();
        await t.api("PATCH", `/api/v3/core/users/${bea.pk}/`, { body: { attributes: {} } });
      }
    });

    test("a password change locks out the old password at once, cached or not", async () => {
      const dn = `cn=cal,ou=users,${BASE}`;
      expect((await ldap("ldapwhoami", dn, "cal-secret-1")).code).toBe(0);
      expect((await ldap("ldapwhoami", dn, "cal-secret-1")).code).toBe(0); // now from the cache
      const cal = (await t.api("GET", "/api/v3/core/users/?username=cal")).body.results[0];
      await t.api("POST", `/api/v3/core/users/${cal.pk}/set_password/`, {
        body: { password: "cal-secret-2" },
      });
      expect(
        await waitFor(async () => (await ldap("ldapwhoami", dn, "cal-secret-1")).code === 49, 1000),
      ).toBe(true);
      expect((await ldap("ldapwhoami", dn, "cal-secret-2")).code).toBe(0);
    });

    // (Not for the embedded outpost: it goes down with its core.)
    if (mode !== "embedded")
      test("with the core down, cached binds and searches still answer; new credentials get unavailable", async () => {
        const bea = `cn=bea,ou=users,${BASE}`;
        expect((await ldap("ldapwhoami", bea, "bea-secret-1")).code).toBe(0);
        const port = core.server.port;
        await core.stop();
        try {
          expect((await ldap("ldapwhoami", bea, "bea-secret-1")).code).toBe(0);
          const search = await ldap("ldapsearch", bea, "bea-secret-1", "-LLL", "-b", BASE, "(cn=cal)", "cn");
          expect(search.code, search.stderr).toBe(0);
          expect(search.stdout).toContain(`dn: cn=cal,ou=users,${BASE}`);
          // dot has never bound: there is nothing cached to answer from.
          expect((await ldap("ldapwhoami", `cn=dot,ou=users,${BASE}`, "dot-secret-1")).code).toBe(52);
        } finally {
          core = startServer(t.core, memoryLogger("warn"), `127.0.0.1:${port}`);
        }
        // The core is back: new credentials work again.
        expect(
          await waitFor(
            async () => (await ldap("ldapwhoami", `cn=dot,ou=users,${BASE}`, "dot-secret-1")).code === 0,
            5000,
          ),
        ).toBe(true);
      }, 30_000);
  });
