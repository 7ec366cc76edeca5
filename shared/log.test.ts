import { describe, expect, test } from "bun:test";
import { createLogger, type LogFields, type LoggerOptions, memoryLogger, redact } from "./log.ts";

function capture(options: LoggerOptions = {}) {
  const lines: LogFields[] = [];
  const log = createLogger({ ...options, write: (line) => lines.push(JSON.parse(line) as LogFields) });
  return { log, lines };
}

describe("redact", () => {
  test("hides the values of password, token, secret, key, authorization, cookie and credential keys", () => {
    const out = redact({
      password: "p1",
      new_password: "p2",
      passwd: "p3",
      token: "t1",
      access_token: "t2",
      "X-Authentik-Outpost-Token": "t3",
      secret: "s1",
      client_secret: "s2",
      key: "k1",
      api_key: "k2",
      authorization: "Bearer abc",
      Authorization: "Basic xyz",
      cookie: "authentik_session=abc",
      "set-cookie": "a=b",
      credentials: "c1",
      username: "akadmin",
      count: 3,
    });
    expect(out).toEqual({
      password: "[redacted]",
      new_password: "[redacted]",
      passwd: "[redacted]",
      token: "[redacted]",
      access_token: "[redacted]",
      "X-Authentik-Outpost-Token": "[redacted]",
      secret: "[redacted]",
      client_secret: "[redacted]",
      key: "[redacted]",
      api_key: "[redacted]",
      authorization: "[redacted]",
      Authorization: "[redacted]",
      cookie: "[redacted]",
      "set-cookie": "[redacted]",
      credentials: "[redacted]",
      username: "akadmin",
      count: 3,
    });
  });

  test("reaches into nested objects and arrays", () => {
    const out = redact({
      request: { headers: { authorization: "Bearer abc", accept: "json" } },
      users: [{ name: "a", password: "p" }, { name: "b" }],
      config: { postgresql: { url: "x", password: "pg" } },
    });
    expect(out).toEqual({
      request: { headers: { authorization: "[redacted]", accept: "json" } },
      users: [{ name: "a", password: "[redacted]" }, { name: "b" }],
      config: { postgresql: { url: "x", password: "[redacted]" } },
    });
  });

  test("cuts off values nested too deep to check, so no secret slips out below the limit", () => {
    let deep: Record<string, unknown> = { password: "hunter2" };
    for (let i = 0; i < 10; i++) deep = { next: deep };
    const text = JSON.stringify(redact(deep));
    expect(text).not.toContain("hunter2");
    expect(text).toContain("[truncated]");
  });

  test("redacts a sensitive key whatever its value's type, including objects", () => {
    expect(redact({ token: { raw: "abc" }, secret: 12345, password: ["a", "b"] })).toEqual({
      token: "[redacted]",
      secret: "[redacted]",
      password: "[redacted]",
    });
  });

  test("leaves empty values visible, so a log says a secret was missing", () => {
    expect(redact({ password: "", token: null, secret: undefined })).toEqual({
      password: "",
      token: null,
      secret: undefined,
    });
  });

  test("turns errors into name and message, without the stack", () => {
    const err = new TypeError("boom");
    expect(redact({ error: err })).toEqual({ error: { name: "TypeError", message: "boom" } });
  });

  test("passes plain values through and does not change its input", () => {
    expect(redact("text")).toBe("text");
    expect(redact(5)).toBe(5);
    expect(redact(null)).toBeNull();
    const input = { password: "p" };
    redact(input);
    expect(input.password).toBe("p");
  });
});

describe("createLogger", () => {
  test("writes one JSON line with ts, level, msg and the fields", () => {
    const lines: string[] = [];
    const log = createLogger({
      write: (line) => lines.push(line),
      now: () => new Date("2030-01-02T03:04:05.000Z"),
    });
    log.info("started", { port: 9000 });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toEqual({
      ts: "2030-01-02T03:04:05.000Z",
      level: "info",
      msg: "started",
      port: 9000,
    });
  });

  test("drops lines below its level", () => {
    const { log, lines } = capture({ level: "warn" });
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ["warn", "w"],
      ["error", "e"],
    ]);
    expect(log.level).toBe("warn");
  });

  test("defaults to info", () => {
    const { log, lines } = capture();
    log.debug("hidden");
    log.info("shown");
    expect(lines.map((l) => l.msg)).toEqual(["shown"]);
  });

  test("redacts every line, including a child's bound fields", () => {
    const { log, lines } = capture({ level: "debug" });
    log.debug("login", { username: "a", password: "hunter2", nested: { cookie: "s=1" } });
    const child = log.child({ request_id: "r1", token: "abc" });
    child.error("failed", { secret: "s" });
    expect(JSON.stringify(lines)).not.toMatch(/hunter2|s=1|"abc"|"s"/);
    expect(lines[0]).toMatchObject({
      username: "a",
      password: "[redacted]",
      nested: { cookie: "[redacted]" },
    });
    expect(lines[1]).toMatchObject({
      request_id: "r1",
      token: "[redacted]",
      secret: "[redacted]",
      level: "error",
    });
  });

  test("a child keeps its parent's level and adds to its bound fields", () => {
    const { log, lines } = capture({ level: "info" });
    const child = log.child({ a: 1 }).child({ b: 2 });
    child.debug("hidden");
    child.info("shown", { c: 3 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ a: 1, b: 2, c: 3, msg: "shown" });
  });
});

describe("memoryLogger", () => {
  test("keeps parsed lines in memory, redacted, filtered by level", () => {
    const log = memoryLogger("info");
    log.debug("hidden");
    log.warn("kept", { authorization: "Bearer x" });
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatchObject({ level: "warn", msg: "kept", authorization: "[redacted]" });
  });
});
