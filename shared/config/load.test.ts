import { describe, expect, spyOn, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, type LoadOptions, loadConfig, parseListen } from "./load.ts";
import {
  bool,
  type ConfigSchema,
  describeType,
  envName,
  int,
  listen,
  oneOf,
  optionalSecret,
  str,
} from "./schema.ts";

const schema = {
  data_dir: str("./data", "Data directory."),
  "listen.http": listen("0.0.0.0:9000", "HTTP listener."),
  "db.port": int(5432, "Port.", 1, 65535),
  "db.password": optionalSecret("Password.", ["AUTHENTIK_DB__PASSWORD"]),
  "db.host": str("", "Host.", { aliases: ["AUTHENTIK_DB__HOST"] }),
  "log.level": oneOf(["debug", "info", "warn", "error"] as const, "info", "Level."),
  "cookie.secure": bool(false, "Secure cookies."),
  "outpost.url": { type: { kind: "url", protocols: ["http:", "https:"] }, default: "", doc: "Core URL." },
} satisfies ConfigSchema;

const SECRET = "hunter2-do-not-print";

/** Loads with an in-memory file system: paths map to contents, anything else is ENOENT. */
function load(env: Record<string, string>, files: Record<string, string> = {}, extra: LoadOptions = {}) {
  const readFile = (path: string): string => {
    const content = files[path];
    if (content === undefined)
      throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: "ENOENT" });
    return content;
  };
  return loadConfig(schema, { env, readFile, ...extra });
}

/** The ConfigError thrown by `fn`, failing the test if none is. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("layering", () => {
  test("defaults apply when nothing is set", () => {
    const { values, sources, warnings } = load({});
    expect(values).toEqual({
      data_dir: "./data",
      "listen.http": "0.0.0.0:9000",
      "db.port": 5432,
      "db.password": "",
      "db.host": "",
      "log.level": "info",
      "cookie.secure": false,
      "outpost.url": "",
    });
    expect(sources["db.port"]).toBe("default");
    expect(warnings).toEqual([]);
  });

  test("the YAML file overrides defaults, and the environment overrides the file", () => {
    const yaml = "data_dir: /var/lib/gh\ndb:\n  port: 6000\n  host: db.internal\nlog:\n  level: debug\n";
    const { values, sources } = load(
      { GATEHOUSE_CONFIG: "/etc/gh.yml", GATEHOUSE_DB__PORT: "7000" },
      { "/etc/gh.yml": yaml },
    );
    expect(values.data_dir).toBe("/var/lib/gh");
    expect(values["db.host"]).toBe("db.internal");
    expect(values["log.level"]).toBe("debug");
    expect(values["db.port"]).toBe(7000);
    expect(values["listen.http"]).toBe("0.0.0.0:9000");
    expect(sources).toMatchObject({
      data_dir: "file",
      "db.port": "GATEHOUSE_DB__PORT",
      "listen.http": "default",
    });
  });

  test("reads a real YAML file and secret file from disk when no readFile is given", () => {
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-config-"));
    try {
      const path = join(dir, "gatehouse.yml");
      writeFileSync(path, "listen:\n  http: 127.0.0.1:9100\ncookie:\n  secure: true\n");
      writeFileSync(join(dir, "db-password"), `${SECRET}\n`);
      const env = { GATEHOUSE_CONFIG: path, GATEHOUSE_DB__PASSWORD: `file://${join(dir, "db-password")}` };
      const { values } = loadConfig(schema, { env });
      expect(values["listen.http"]).toBe("127.0.0.1:9100");
      expect(values["cookie.secure"]).toBe(true);
      expect(values["db.password"]).toBe(SECRET);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("an empty environment value counts as unset", () => {
    const { values, sources } = load({ GATEHOUSE_DB__PORT: "" });
    expect(values["db.port"]).toBe(5432);
    expect(sources["db.port"]).toBe("default");
  });

  test("an empty YAML file changes nothing", () => {
    expect(load({ GATEHOUSE_CONFIG: "/e.yml" }, { "/e.yml": "" }).values["db.port"]).toBe(5432);
  });

  test("values are coerced from their text form", () => {
    const { values } = load({
      GATEHOUSE_DB__PORT: " 15432 ",
      GATEHOUSE_COOKIE__SECURE: "yes",
      GATEHOUSE_LOG__LEVEL: "warn",
      GATEHOUSE_OUTPOST__URL: "https://core.example:9443/",
    });
    expect(values["db.port"]).toBe(15432);
    expect(values["cookie.secure"]).toBe(true);
    expect(values["log.level"]).toBe("warn");
    expect(values["outpost.url"]).toBe("https://core.example:9443/");
  });

  test.each([
    ["true", true],
    ["1", true],
    ["ON", true],
    ["false", false],
    ["0", false],
    ["no", false],
    ["off", false],
  ])("bool %p → %p", (text, expected) => {
    expect(load({ GATEHOUSE_COOKIE__SECURE: text }).values["cookie.secure"]).toBe(expected);
  });
});

describe("secrets", () => {
  test("file:///path reads the file and drops one trailing newline", () => {
    const { values, sources } = load(
      { GATEHOUSE_DB__PASSWORD: "file:///run/secrets/db" },
      { "/run/secrets/db": `${SECRET}\n` },
    );
    expect(values["db.password"]).toBe(SECRET);
    expect(sources["db.password"]).toBe("GATEHOUSE_DB__PASSWORD");
  });

  test("file:// paths are percent-decoded", () => {
    const { values } = load(
      { GATEHOUSE_DB__PASSWORD: "file:///run/my%20secret" },
      { "/run/my secret": SECRET },
    );
    expect(values["db.password"]).toBe(SECRET);
  });

  test("env://NAME reads another environment variable", () => {
    const { values } = load({ GATEHOUSE_DB__PASSWORD: "env://DB_PASS", DB_PASS: SECRET });
    expect(values["db.password"]).toBe(SECRET);
  });

  test("a secret reference works from the YAML file too", () => {
    const { values } = load(
      { GATEHOUSE_CONFIG: "/c.yml" },
      { "/c.yml": "db:\n  password: file:///s/db\n", "/s/db": SECRET },
    );
    expect(values["db.password"]).toBe(SECRET);
  });

  test("a plain secret value is taken as is", () => {
    expect(load({ GATEHOUSE_DB__PASSWORD: SECRET }).values["db.password"]).toBe(SECRET);
  });

  test("a missing secret file is an error naming the key and the path", () => {
    const err = configError(() => load({ GATEHOUSE_DB__PASSWORD: "file:///nope" }));
    expect(err.message).toContain("db.password (GATEHOUSE_DB__PASSWORD)");
    expect(err.message).toContain("cannot read secret file /nope: ENOENT");
  });

  test("env:// naming an unset variable is an error", () => {
    const err = configError(() => load({ GATEHOUSE_DB__PASSWORD: "env://DB_PASS" }));
    expect(err.message).toContain(
      "db.password (GATEHOUSE_DB__PASSWORD): refers to env://DB_PASS, which is not set",
    );
  });

  test("file:// and env:// are not resolved for keys that are not secrets", () => {
    const { values } = load({ GATEHOUSE_DB__HOST: "env://DB_HOST", DB_HOST: "db" });
    expect(values["db.host"]).toBe("env://DB_HOST");
  });

  test("a secret's value never appears in an error", () => {
    const yaml = `db:\n  password:\n    nested: ${SECRET}\n`;
    const fromFile = configError(() => load({ GATEHOUSE_CONFIG: "/c.yml" }, { "/c.yml": yaml }));
    expect(fromFile.message).toContain("db.password (in /c.yml): expected a string, got a value");
    expect(fromFile.message).not.toContain(SECRET);

    // A secret passing through an unrelated failure of another key is not echoed either.
    const mixed = configError(() => load({ GATEHOUSE_DB__PASSWORD: SECRET, GATEHOUSE_DB__PORT: "x" }));
    expect(mixed.message).not.toContain(SECRET);
  });

  test("a malformed YAML file's error does not quote the file's lines", () => {
    const files = { "/c.yml": `db:\n  password: "${SECRET}\n` };
    const err = configError(() => load({ GATEHOUSE_CONFIG: "/c.yml" }, files));
    expect(err.message).toContain("GATEHOUSE_CONFIG: cannot read /c.yml: ");
    expect(err.message).toMatch(/at line \d+, column \d+/);
    expect(err.message).not.toContain(SECRET);
  });
  test("YAML warnings, which quote the file's lines, are not printed", () => {
    const emitWarning = spyOn(process, "emitWarning").mockImplementation(() => {});
    const consoleWarn = spyOn(console, "warn").mockImplementation(() => {});
    try {
      const { values } = load(
        { GATEHOUSE_CONFIG: "/c.yml" },
        { "/c.yml": `db:\n  password: !odd ${SECRET}\n` },
      );
      expect(values["db.password"]).toBe(SECRET);
      expect(emitWarning).not.toHaveBeenCalled();
      expect(consoleWarn).not.toHaveBeenCalled();
    } finally {
      emitWarning.mockRestore();
      consoleWarn.mockRestore();
    }
  });
});

describe("unknown names", () => {
  test("an unknown GATEHOUSE_* variable is warned about, not fatal", () => {
    const { warnings } = load(
      { GATEHOUSE_DB__PROT: "1", GATEHOUSE_CONFIG: "/c.yml", OTHER: "x" },
      { "/c.yml": "" },
    );
    expect(warnings).toEqual(["GATEHOUSE_DB__PROT is set but is not a Gatehouse setting; it is ignored"]);
  });

  test("knownEnv names and aliases are not warned about", () => {
    const { warnings } = load(
      { GATEHOUSE_TEST_POSTGRES_URL: "postgres://x", AUTHENTIK_DB__HOST: "db", AUTHENTIK_UNRELATED: "1" },
      {},
      { knownEnv: ["GATEHOUSE_TEST_POSTGRES_URL"] },
    );
    expect(warnings).toEqual([]);
  });

  test("an unknown key in the YAML file is an error naming it", () => {
    const yaml = "db:\n  prot: 1\n  port: 2\nbogus: true\n";
    const err = configError(() => load({ GATEHOUSE_CONFIG: "/c.yml" }, { "/c.yml": yaml }));
    expect(err.problems).toEqual([
      "db.prot (in /c.yml): unknown key; known keys are listed in the README",
      "bogus (in /c.yml): unknown key; known keys are listed in the README",
    ]);
  });

  test("a YAML file that is not a mapping is an error", () => {
    const err = configError(() => load({ GATEHOUSE_CONFIG: "/c.yml" }, { "/c.yml": "- a\n- b\n" }));
    expect(err.message).toContain("/c.yml must hold a mapping of sections and keys");
  });

  test("a missing YAML file is an error naming GATEHOUSE_CONFIG", () => {
    const err = configError(() => load({ GATEHOUSE_CONFIG: "/missing.yml" }));
    expect(err.message).toContain("GATEHOUSE_CONFIG: cannot read /missing.yml");
  });
});

describe("invalid values", () => {
  test.each([
    ["GATEHOUSE_DB__PORT", "abc", 'db.port (GATEHOUSE_DB__PORT): expected an integer ≥ 1 ≤ 65535, got "abc"'],
    ["GATEHOUSE_DB__PORT", "1.5", "expected an integer ≥ 1 ≤ 65535"],
    ["GATEHOUSE_DB__PORT", "0", "expected an integer ≥ 1 ≤ 65535"],
    ["GATEHOUSE_DB__PORT", "65536", "expected an integer ≥ 1 ≤ 65535"],
    ["GATEHOUSE_DB__PORT", "99999999999999999999", "expected an integer"],
    [
      "GATEHOUSE_COOKIE__SECURE",
      "maybe",
      'cookie.secure (GATEHOUSE_COOKIE__SECURE): expected true or false, got "maybe"',
    ],
    [
      "GATEHOUSE_LOG__LEVEL",
      "verbose",
      'log.level (GATEHOUSE_LOG__LEVEL): expected one of debug, info, warn, error, got "verbose"',
    ],
    ["GATEHOUSE_LOG__LEVEL", "INFO", "expected one of debug, info, warn, error"],
    [
      "GATEHOUSE_LISTEN__HTTP",
      "9000",
      'listen.http (GATEHOUSE_LISTEN__HTTP): expected host:port (e.g. 0.0.0.0:9000, [::]:9000), got "9000"',
    ],
    ["GATEHOUSE_LISTEN__HTTP", "0.0.0.0:70000", "expected host:port"],
    [
      "GATEHOUSE_OUTPOST__URL",
      "ftp://core",
      'outpost.url (GATEHOUSE_OUTPOST__URL): expected a URL (http:, https:), got "ftp://core"',
    ],
    ["GATEHOUSE_OUTPOST__URL", "not a url", "expected a URL (http:, https:)"],
  ])("%s=%p is rejected", (name, value, message) => {
    const err = configError(() => load({ [name]: value }));
    expect(err.message).toContain(message);
  });

  test("invalid values in the YAML file name the file", () => {
    const yaml = "db:\n  port: 1.5\nlog:\n  level: loud\n";
    const err = configError(() => load({ GATEHOUSE_CONFIG: "/c.yml" }, { "/c.yml": yaml }));
    expect(err.problems).toEqual([
      "db.port (in /c.yml): expected an integer ≥ 1 ≤ 65535, got 1.5",
      'log.level (in /c.yml): expected one of debug, info, warn, error, got "loud"',
    ]);
  });

  test("every problem is reported at once", () => {
    const err = configError(() =>
      load({ GATEHOUSE_DB__PORT: "x", GATEHOUSE_COOKIE__SECURE: "x", GATEHOUSE_LOG__LEVEL: "x" }),
    );
    expect(err.problems).toHaveLength(3);
    expect(err.message.startsWith("invalid configuration:\n  - ")).toBe(true);
  });

  test("a valid environment value repairs an invalid file value", () => {
    const { values } = load(
      { GATEHOUSE_CONFIG: "/c.yml", GATEHOUSE_DB__PORT: "5433" },
      { "/c.yml": "db:\n  port: nope\n" },
    );
    expect(values["db.port"]).toBe(5433);
  });
});

describe("authentik aliases", () => {
  test("an AUTHENTIK_* alias is accepted", () => {
    const { values, sources } = load({ AUTHENTIK_DB__HOST: "pg.local" });
    expect(values["db.host"]).toBe("pg.local");
    expect(sources["db.host"]).toBe("AUTHENTIK_DB__HOST");
  });

  test("GATEHOUSE_* wins over its alias", () => {
    const { values, sources } = load({ AUTHENTIK_DB__HOST: "old", GATEHOUSE_DB__HOST: "new" });
    expect(values["db.host"]).toBe("new");
    expect(sources["db.host"]).toBe("GATEHOUSE_DB__HOST");
  });

  test("an alias of a secret resolves references too", () => {
    const { values } = load({ AUTHENTIK_DB__PASSWORD: "env://PW", PW: SECRET });
    expect(values["db.password"]).toBe(SECRET);
  });

  test("an alias overrides the YAML file", () => {
    const { values } = load(
      { GATEHOUSE_CONFIG: "/c.yml", AUTHENTIK_DB__HOST: "env" },
      { "/c.yml": "db:\n  host: file\n" },
    );
    expect(values["db.host"]).toBe("env");
  });
});

describe("parseListen", () => {
  test.each([
    ["0.0.0.0:9000", "0.0.0.0", 9000],
    ["[::]:9000", "::", 9000],
    ["[::1]:443", "::1", 443],
    ["localhost:0", "localhost", 0],
    ["auth.example.com:65535", "auth.example.com", 65535],
    [" 127.0.0.1:80 ", "127.0.0.1", 80],
  ] as const)("%p → hostname %s, port %d", (value, hostname, port) => {
    expect(parseListen(value)).toEqual({ hostname, port });
  });

  test.each([
    "9000",
    ":9000",
    "0.0.0.0",
    "0.0.0.0:",
    "0.0.0.0:65536",
    "0.0.0.0:123456",
    "::1:9000",
    "[::1]",
    "host:port",
    "a b:80",
  ])("%p is rejected", (value) => {
    expect(parseListen(value)).toBeUndefined();
  });
});

describe("schema helpers", () => {
  test("envName maps section.key to GATEHOUSE_SECTION__KEY", () => {
    expect(envName("listen.http")).toBe("GATEHOUSE_LISTEN__HTTP");
    expect(envName("data_dir")).toBe("GATEHOUSE_DATA_DIR");
    expect(envName("postgresql.pool_max")).toBe("GATEHOUSE_POSTGRESQL__POOL_MAX");
  });

  test("describeType says what each kind accepts", () => {
    expect(describeType({ kind: "string" })).toBe("a string");
    expect(describeType({ kind: "int" })).toBe("an integer");
    expect(describeType({ kind: "int", min: 0 })).toBe("an integer ≥ 0");
    expect(describeType({ kind: "int", max: 9 })).toBe("an integer ≤ 9");
    expect(describeType({ kind: "bool" })).toBe("true or false");
    expect(describeType({ kind: "enum", values: ["a", "b"] })).toBe("one of a, b");
    expect(describeType({ kind: "listen" })).toBe("host:port (e.g. 0.0.0.0:9000, [::]:9000)");
    expect(describeType({ kind: "url", protocols: ["ws:", "wss:"] })).toBe("a URL (ws:, wss:)");
  });

  test("helpers build the specs they promise", () => {
    expect(int(3, "d")).toEqual({ type: { kind: "int" }, default: 3, doc: "d" });
    expect(optionalSecret("d", ["A"])).toMatchObject({ secret: true, default: "", aliases: ["A"] });
    expect(bool(true, "d").type).toEqual({ kind: "bool" });
  });
});
