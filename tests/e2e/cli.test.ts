/** The `gatehouse` command line as an operator uses it, next to (and without) a running core. */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { VERSION } from "../../shared/version.ts";
import {
  type CoreProcess,
  disposeAll,
  e2eBackends,
  freePort,
  Install,
  PROCESS_TIMEOUT_MS,
  reportMissingBackends,
} from "../support/process.ts";
import { api } from "./http.ts";

setDefaultTimeout(PROCESS_TIMEOUT_MS);
afterAll(disposeAll);

reportMissingBackends("command line");

for (const backend of e2eBackends()) {
  describe(`command line on ${backend}`, () => {
    let install: Install;
    let core: CoreProcess;
    beforeAll(async () => {
      install = await Install.create(backend);
    });
    afterAll(() => install.dispose());

    test("migrate brings a fresh store up to date, and running it again changes nothing", async () => {
      // Logs go to stderr, so stdout holds only what the command says.
      const first = await install.run(["migrate"]);
      expect(first).toMatchObject({ code: 0, stdout: `store (${backend}) is at the latest schema\n` });
      expect(first.stderr).toContain('"msg":"store migrated"');
      const second = await install.run(["migrate"]);
      expect(second).toMatchObject({ code: 0, stdout: first.stdout });
      expect(second.stderr).not.toContain("store migrated");
    });

    test("create-admin --password-stdin makes a superuser whose CLI token lists users", async () => {
      core = await install.start();
      const created = await install.run(
        ["create-admin", "bob", "--password-stdin", "--email", "bob@example.com"],
        {
          stdin: "bob-password-123\n",
        },
      );
      expect(created).toMatchObject({ code: 0, stdout: "created superuser bob\n" });
      expect(await Bun.password.verify("bob-password-123", (await install.passwordHash("bob")) ?? "")).toBe(
        true,
      );

      const token = await install.run(["create-token", "bob", "--no-expiry"]);
      expect(token.code).toBe(0);
      expect(token.stderr).toContain("shown only once");
      // The key alone on stdout, so `KEY=$(gatehouse create-token bob)` works.
      expect(token.stdout).toMatch(/^\S{32,}\n$/);
      const key = token.stdout.trim();

      const users = await api(core, "GET", "/api/v3/core/users/?username=bob", { token: key });
      expect(users.status).toBe(200);
      expect(users.body.results[0]).toMatchObject({
        username: "bob",
        email: "bob@example.com",
        is_superuser: true,
      });
      expect(core.output).not.toContain(key);
    });

    test("create-admin without --password-stdin prints a generated password", async () => {
      const created = await install.run(["create-admin", "carol"]);
      expect(created.code).toBe(0);
      const password = /with password: (\S+)$/m.exec(created.stdout)?.[1] ?? "";
      expect(await Bun.password.verify(password, (await install.passwordHash("carol")) ?? "")).toBe(true);
    });

    test("create-admin with a name that exists exits 1 and changes nothing", async () => {
      const before = await install.passwordHash("bob");
      const again = await install.run(["create-admin", "bob", "--password-stdin"], {
        stdin: "other-password-456\n",
      });
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('a user named "bob" already exists');
      expect(await install.passwordHash("bob")).toBe(before);
    });

    test("create-token for an unknown user exits 1 with a message", async () => {
      const res = await install.run(["create-token", "nosuchuser"]);
      expect(res.code).toBe(1);
      expect(res.stdout).toBe("");
      expect(res.stderr).toContain('no user named "nosuchuser"');
    });

    test("healthcheck exits 0 against the running core and 1 where none runs", async () => {
      const healthy = await install.run(["healthcheck"], { env: { GATEHOUSE_LISTEN__HTTP: core.listen } });
      expect(healthy).toMatchObject({ code: 0, stdout: "healthy\n" });

      const nowhere = `127.0.0.1:${await freePort()}`;
      const down = await install.run(["healthcheck"], { env: { GATEHOUSE_LISTEN__HTTP: nowhere } });
      expect(down.code).toBe(1);
      expect(down.stdout).toContain("unreachable");
    });

    test("outpost-deployment prints an env an outpost runs with, and logs the token view", async () => {
      const res = await install.run(["outpost-deployment", "Embedded LDAP Outpost", "--host", core.url]);
      expect(res.code, res.stderr).toBe(0);
      const env = Object.fromEntries(
        res.stdout
          .trim()
          .split("\n")
          .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
      );
      expect(Object.keys(env)).toEqual(["GATEHOUSE_HOST", "GATEHOUSE_TOKEN", "GATEHOUSE_INSECURE"]);
      expect(env.GATEHOUSE_HOST).toBe(core.url);
      expect(res.stderr).toContain("gatehouse-ldap");
      // The token is the outpost's own: it lists exactly that outpost.
      const mine = await api(core, "GET", "/api/v3/outposts/instances/", { token: env.GATEHOUSE_TOKEN });
      expect(mine.status).toBe(200);
      expect(mine.body.results.map((o: { name: string }) => o.name)).toEqual(["Embedded LDAP Outpost"]);
      const unknown = await install.run(["outpost-deployment", "nope"]);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('no outpost named "nope"');
    });
  });
}

describe("command line usage", () => {
  let install: Install;
  beforeAll(async () => {
    install = await Install.create("sqlite");
  });
  afterAll(() => install.dispose());

  test("--version prints the version", async () => {
    expect(await install.run(["--version"])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: "" });
  });

  test("--help lists every command", async () => {
    const res = await install.run(["--help"]);
    expect(res.code).toBe(0);
    for (const command of ["serve", "migrate", "create-admin", "create-token", "healthcheck"]) {
      expect(res.stdout).toContain(`  ${command} `);
    }
  });

  test.each([
    [["frobnicate"], 'unknown command "frobnicate"'],
    [["migrate", "--frobnicate"], "Unknown option '--frobnicate'"],
    [["create-admin"], "create-admin needs a username"],
    [["create-token"], "create-token needs a username"],
    [["create-token", "bob", "--expires-days", "soon"], "--expires-days needs a positive whole number"],
  ])("%p is a usage error: exit 2", async (args, message) => {
    const res = await install.run(args);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(message);
  });

  test("create-admin refuses a short password from stdin with exit 2", async () => {
    const res = await install.run(["create-admin", "dave", "--password-stdin"], { stdin: "short\n" });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("at least 8 characters");
  });
});
