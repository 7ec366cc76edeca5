/**
 * Configuration at boot, as an operator meets it: a bad value stops the core with a message naming
 * the key and what it accepts (never echoing a secret); an unknown variable is a warning; a YAML file
 * and file:// secrets work.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type CoreProcess, disposeAll, freePort, Install, PROCESS_TIMEOUT_MS } from "../support/process.ts";
import { api } from "./http.ts";

setDefaultTimeout(PROCESS_TIMEOUT_MS);
afterAll(disposeAll);

/** Starts a core expected to refuse its configuration; resolves once it has exited (or fails). */
async function refusedStart(install: Install, env: Record<string, string>): Promise<CoreProcess> {
  const core = await install.start({ env, ready: false });
  await Promise.race([core.exited, Bun.sleep(10_000)]);
  if (core.running) throw core.failure("started despite an invalid configuration");
  return core;
}

describe("invalid configuration stops the core at boot", () => {
  let install: Install;
  beforeAll(async () => {
    install = await Install.create("sqlite");
  });
  afterAll(() => install.dispose());

  test.each([
    [
      "GATEHOUSE_LISTEN__HTTP",
      "nonsense",
      'listen.http (GATEHOUSE_LISTEN__HTTP): expected host:port (e.g. 0.0.0.0:9000, [::]:9000), got "nonsense"',
    ],
    [
      "GATEHOUSE_LOG__LEVEL",
      "loud",
      'log.level (GATEHOUSE_LOG__LEVEL): expected one of debug, info, warn, error, got "loud"',
    ],
    [
      "GATEHOUSE_HTTP__MAX_BODY_BYTES",
      "12",
      "http.max_body_bytes (GATEHOUSE_HTTP__MAX_BODY_BYTES): expected an integer ≥ 1024",
    ],
  ])("%s=%s names the key and what it accepts", async (name, value, message) => {
    const core = await refusedStart(install, { [name]: value });
    expect(await core.exited).not.toBe(0);
    expect(core.stderr.text).toContain(message);
    expect(core.stdout.text).not.toContain("gatehouse started");
  });

  test("a secret set alongside a bad value never appears in the output", async () => {
    const core = await refusedStart(install, {
      GATEHOUSE_POSTGRESQL__PORT: "abc",
      GATEHOUSE_BOOTSTRAP_PASSWORD: "s3cr3t-value",
      GATEHOUSE_POSTGRESQL__PASSWORD: "s3cr3t-db-password",
      GATEHOUSE_BOOTSTRAP_TOKEN: "env://NOT_SET_ANYWHERE",
    });
    expect(await core.exited).not.toBe(0);
    // Every problem at once.
    expect(core.stderr.text).toContain(
      'postgresql.port (GATEHOUSE_POSTGRESQL__PORT): expected an integer ≥ 1 ≤ 65535, got "abc"',
    );
    expect(core.stderr.text).toContain(
      "bootstrap_token (GATEHOUSE_BOOTSTRAP_TOKEN): refers to env://NOT_SET_ANYWHERE",
    );
    expect(core.output).not.toContain("s3cr3t");
  });

  test("a secret of the wrong type is reported without its value", async () => {
    const file = join(install.dataDir, "bad.yml");
    writeFileSync(file, "bootstrap_password:\n  - s3cr3t-in-yaml\n");
    const core = await refusedStart(install, { GATEHOUSE_CONFIG: file });
    expect(await core.exited).not.toBe(0);
    expect(core.stderr.text).toContain(`bootstrap_password (in ${file}): expected a string, got a value`);
    expect(core.output).not.toContain("s3cr3t");
  });
});

describe("a core configured by a YAML file and file:// secrets", () => {
  const TOKEN = "e2e-token-from-a-file-0123456789abcdefghij";
  let install: Install;
  let core: CoreProcess;
  let port: number;
  beforeAll(async () => {
    install = await Install.create("sqlite");
    port = await freePort();
    const config = join(install.dataDir, "gatehouse.yml");
    const tokenFile = join(install.dataDir, "bootstrap-token");
    writeFileSync(config, `listen:\n  http: 127.0.0.1:${port}\nlog:\n  level: warn\n`);
    writeFileSync(tokenFile, `${TOKEN}\n`);
    core = await install.start({
      port,
      env: {
        GATEHOUSE_LISTEN__HTTP: undefined,
        GATEHOUSE_CONFIG: config,
        GATEHOUSE_BOOTSTRAP_TOKEN: `file://${tokenFile}`,
        GATEHOUSE_FOO: "1",
      },
    });
  });
  afterAll(() => install.dispose());

  test("the file's listen address is used", async () => {
    expect(core.url).toBe(`http://127.0.0.1:${port}`);
    expect((await fetch(`http://127.0.0.1:${port}/-/health/live/`)).status).toBe(204);
  });

  test("the file's log level is used: warnings only", async () => {
    await api(core, "GET", "/api/v3/core/users/", { token: TOKEN });
    const levels = new Set(core.logs().map((l) => l.level));
    expect([...levels]).toEqual(["warn"]);
  });

  test("the bootstrap token read from file:// lists users", async () => {
    const res = await api(core, "GET", "/api/v3/core/users/?type=internal", { token: TOKEN });
    expect(res.status).toBe(200);
    expect(res.body.results[0].username).toBe("akadmin");
  });

  test("an unknown GATEHOUSE_* variable is warned about, and the core runs anyway", () => {
    const warning = core.logs().find((l) => l.level === "warn" && String(l.msg).includes("GATEHOUSE_FOO"));
    expect(warning?.msg).toBe("GATEHOUSE_FOO is set but is not a Gatehouse setting; it is ignored");
  });

  test("the secret read from the file never appears in the output", () => {
    expect(core.output).not.toContain(TOKEN);
  });
});
