import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { README_PATH, renderSettings, settingsSection, withSettings } from "./config-docs.ts";

test("README.md's settings table matches the config schema (run `npm run docs:config` to fix)", () => {
  const section = settingsSection(readFileSync(README_PATH, "utf8"));
  expect(section).toBeDefined();
  expect(section).toBe(`\n${renderSettings()}`);
});

test("every core setting, its aliases and secret marking are documented", () => {
  const table = renderSettings();
  const row = (key: string) => table.split("\n").find((line) => line.includes(`| \`${key}\` `)) ?? "";
  expect(row("listen.http")).toMatch(
    /^\| `GATEHOUSE_LISTEN__HTTP` +\| `listen.http` +\| `0.0.0.0:9000` +\| host:port/,
  );
  expect(row("bootstrap_password")).toContain(
    "`GATEHOUSE_BOOTSTRAP_PASSWORD`<br>or `AUTHENTIK_BOOTSTRAP_PASSWORD`",
  );
  expect(row("postgresql.url")).toMatch(/\| \(unset\) +\| a string; \*\*secret\*\* +\|/);
  expect(row("cookie.secure")).toMatch(/\| `false` +\| true or false +\|/);
  expect(table).toContain("`file:///path`");
  expect(table).toContain("`env://NAME`");
});

test("withSettings replaces only the text between the markers", () => {
  const readme = "intro\n<!-- config:begin -->\nold\n<!-- config:end -->\noutro\n";
  expect(withSettings(readme, "new\n")).toBe(
    "intro\n<!-- config:begin -->\nnew\n<!-- config:end -->\noutro\n",
  );
  expect(() => withSettings("no markers", "x")).toThrow("markers");
});
