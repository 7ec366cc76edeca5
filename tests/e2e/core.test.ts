/**
 * The core as an operator runs it: `bun core/src/main.ts` on its own data, driven over HTTP. Bootstrap
 * credentials, data surviving a restart, graceful shutdown, and a start that cannot bind its port.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import {
  type CoreProcess,
  disposeAll,
  e2eBackends,
  freePort,
  Install,
  PROCESS_TIMEOUT_MS,
  reportMissingBackends,
} from "../support/process.ts";
import { needTool, run } from "../support/tools.ts";
import { api, heldRequest } from "./http.ts";

const TOKEN = "e2e-bootstrap-token-0123456789abcdefghijklmnop";

setDefaultTimeout(PROCESS_TIMEOUT_MS);
afterAll(disposeAll);

reportMissingBackends("core lifecycle");
const hasLdapTools = needTool("ldapsearch", "apt-get install ldap-utils");

for (const backend of e2eBackends()) {
  describe(`core lifecycle on ${backend}`, () => {
    let install: Install;
    let core: CoreProcess;
    beforeAll(async () => {
      install = await Install.create(backend, { GATEHOUSE_BOOTSTRAP_TOKEN: TOKEN });
      core = await install.start();
    });
    afterAll(() => install.dispose());

    test("GATEHOUSE_BOOTSTRAP_TOKEN lists akadmin, a superuser", async () => {
      // (The other account of a new install is the embedded outpost's, an internal service account.)
      const res = await api(core, "GET", "/api/v3/core/users/?type=internal", { token: TOKEN });
      expect(res.status).toBe(200);
      expect(res.body.pagination.count).toBe(1);
      expect(res.body.results[0]).toMatchObject({ username: "akadmin", is_superuser: true, is_active: true });
      expect(res.body.results[0]).not.toHaveProperty("password");

      const wrong = await api(core, "GET", "/api/v3/core/users/", { token: `${TOKEN}x` });
      expect(wrong.status).toBe(403);
    });

    test.skipIf(!hasLdapTools)(
      "the embedded LDAP outpost starts on listen.ldap once a provider is assigned to it",
      async () => {
        const port = await freePort();
        expect(await core.stop()).toBe(0);
        core = await install.start({ env: { GATEHOUSE_LISTEN__LDAP: `127.0.0.1:${port}` } });
        const url = `ldap://127.0.0.1:${port}`;
        const rootDse = () =>
          run(["ldapsearch", "-x", "-LLL", "-H", url, "-s", "base", "-b", "", "namingContexts"]);
        // No provider yet: no LDAP port (and no LDAP code loaded).
        expect((await rootDse()).code).toBe(255);
        const as = { token: TOKEN };
        const flow = (slug: string) =>
          api(core, "GET", `/api/v3/flows/instances/${slug}/`, as).then((r) => r.body.pk as string);
        const provider = await api(core, "POST", "/api/v3/providers/ldap/", {
          ...as,
          body: {
            name: "embedded",
            authorization_flow: await flow("default-authentication-flow"),
            invalidation_flow: await flow("default-invalidation-flow"),
            base_dn: "dc=embedded,dc=test",
          },
        });
        expect(provider.status, provider.text).toBe(201);
        const embedded = (
          await api(
            core,
            "GET",
            "/api/v3/outposts/instances/?managed__iexact=goauthentik.io/outposts/embedded-ldap",
            as,
          )
        ).body.results[0];
        const patched = await api(core, "PATCH", `/api/v3/outposts/instances/${embedded.pk}/`, {
          ...as,
          body: { providers: [provider.body.pk] },
        });
        expect(patched.status, patched.text).toBe(200);
        let dse = { code: -1, stdout: "", stderr: "" };
        for (let i = 0; i < 100 && dse.code !== 0; i++) {
          dse = await rootDse();
          if (dse.code !== 0) await Bun.sleep(100);
        }
        expect(dse.code, dse.stderr).toBe(0);
        expect(dse.stdout).toContain("namingContexts: dc=embedded,dc=test");
        // A client that never hangs up does not hold the core's shutdown.
        const idle = await Bun.connect({
          hostname: "127.0.0.1",
          port,
          socket: { data() {}, close() {}, error() {} },
        });
        const code = await core.stop();
        expect(code, JSON.stringify(core.logs().slice(-8))).toBe(0);
        idle.end();
        core = await install.start();
      },
    );

    test("a user created over the API is still there after SIGTERM and a new start", async () => {
      const created = await api(core, "POST", "/api/v3/core/users/", {
        token: TOKEN,
        body: { username: "persisted", name: "Persisted User", attributes: { team: "e2e" } },
      });
      expect(created.status).toBe(201);

      expect(await core.stop()).toBe(0);
      core = await install.start();

      const found = await api(core, "GET", "/api/v3/core/users/?username=persisted", { token: TOKEN });
      expect(found.status).toBe(200);
      expect(found.body.results).toHaveLength(1);
      expect(found.body.results[0]).toMatchObject({
        pk: created.body.pk,
        uuid: created.body.uuid,
        name: "Persisted User",
        attributes: { team: "e2e" },
      });
      // The second start neither re-created akadmin nor printed a migration.
      const all = await api(core, "GET", "/api/v3/core/users/?type=internal", { token: TOKEN });
      expect(all.body.results.map((u: { username: string }) => u.username).sort()).toEqual([
        "akadmin",
        "persisted",
      ]);
      expect(core.logs().some((l) => l.msg === "store migrated")).toBe(false);
    });

    test("SIGTERM lets a request in flight finish, then the core exits 0 with its store closed", async () => {
      const user = await api(core, "POST", "/api/v3/core/users/", {
        token: TOKEN,
        body: { username: "in-flight", name: "In Flight" },
      });
      expect(user.status).toBe(201);

      // The request reaches the core, which waits for its body; SIGTERM arrives; then the body.
      const request = heldRequest(
        core,
        "POST",
        `/api/v3/core/users/${user.body.pk}/set_password/`,
        { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
        JSON.stringify({ password: "set-while-stopping-1" }),
      );
      await request.continued;
      core.proc.kill("SIGTERM");
      await core.waitForLine(/"msg":"shutting down"/);
      request.finish();

      expect(await request.status).toBe(204);
      expect(await core.exited).toBe(0);
      // Answered after shutdown began, and before the core said it stopped.
      const logs = core.logs();
      const answered = logs.findIndex(
        (l) => l.msg === "request" && String(l.path).endsWith("/set_password/"),
      );
      expect(answered).toBeGreaterThan(logs.findIndex((l) => l.msg === "shutting down"));
      expect(logs.findIndex((l) => l.msg === "stopped")).toBeGreaterThan(answered);
      expect(core.stderr.text).toBe("");

      if (backend === "sqlite") {
        // Closed cleanly: the write-ahead log was checkpointed into the database file.
        const wal = `${install.sqlitePath}-wal`;
        expect(existsSync(wal) ? statSync(wal).size : 0).toBe(0);
      }
      const hash = await install.passwordHash("in-flight");
      expect(hash).toStartWith("$argon2id$");
      expect(await Bun.password.verify("set-while-stopping-1", hash ?? "")).toBe(true);
    });

    test("a core that cannot listen on its port exits 1 and says why", async () => {
      const port = await freePort();
      const blocker = Bun.serve({ hostname: "127.0.0.1", port, fetch: () => new Response("taken") });
      try {
        const failed = await install.start({ port, ready: false });
        // On PostgreSQL an open connection pool once kept a failed core alive for ever.
        const code = await Promise.race([failed.exited, Bun.sleep(10_000).then(() => "still running")]);
        expect(code).toBe(1);
        expect(failed.stderr.text).toContain(`port ${port}`);
      } finally {
        blocker.stop(true);
      }
    });
  });
}

describe("authentik's bootstrap variable names", () => {
  let install: Install;
  let core: CoreProcess;
  beforeAll(async () => {
    install = await Install.create("sqlite", {
      AUTHENTIK_BOOTSTRAP_TOKEN: TOKEN,
      AUTHENTIK_BOOTSTRAP_PASSWORD: "authentik-style-password",
    });
    core = await install.start();
  });
  afterAll(() => install.dispose());

  test("AUTHENTIK_BOOTSTRAP_TOKEN lists akadmin", async () => {
    const res = await api(core, "GET", "/api/v3/core/users/?type=internal", { token: TOKEN });
    expect(res.status).toBe(200);
    expect(res.body.results.map((u: { username: string }) => u.username)).toEqual(["akadmin"]);
  });

  test("AUTHENTIK_BOOTSTRAP_PASSWORD sets akadmin's password, so no setup link is printed", async () => {
    await core.waitForLine(/Sign in as akadmin/);
    expect(core.stdout.text).not.toContain("/setup/?token=");
    const hash = await install.passwordHash("akadmin");
    expect(hash).toStartWith("$argon2id$");
    expect(await Bun.password.verify("authentik-style-password", hash ?? "")).toBe(true);
    expect(core.output).not.toContain("authentik-style-password");
    expect(core.output).not.toContain(TOKEN);
  });
});
