/**
 * Renders the README's settings table from the core config schema, between the config markers.
 *   bun scripts/config-docs.ts          rewrite README.md
 *   bun scripts/config-docs.ts --check  exit 1 if README.md is stale
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { coreConfigSchema } from "../core/src/config/schema.ts";
import { type ConfigSchema, describeType, envName, type KeySpec } from "../shared/config/schema.ts";

export const BEGIN = "<!-- config:begin -->";
export const END = "<!-- config:end -->";
export const README_PATH = fileURLToPath(new URL("../README.md", import.meta.url));

/** The Markdown that belongs between the markers: a short legend and one table row per key. */
export function renderSettings(schema: ConfigSchema = coreConfigSchema): string {
  const header = ["Environment variable", "YAML key", "Default", "Accepts", "Description"];
  const rows = Object.entries(schema).map(([key, spec]) => [
    envCell(key, spec),
    code(key),
    defaultCell(spec),
    acceptsCell(spec),
    cellText(spec.doc),
  ]);
  return [
    "Keys written `section.key` sit under `section:` in the YAML file named by `GATEHOUSE_CONFIG`.",
    "Values marked **secret** may also be given as `file:///path` (read from that file) or `env://NAME`",
    "(read from that variable); they never appear in logs or error messages.",
    "",
    ...table(header, rows),
    "",
  ].join("\n");
}

/** A Markdown table with padded columns, the shape `biome format` gives it. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
}

function envCell(key: string, spec: KeySpec): string {
  const aliases = (spec.aliases ?? []).map((alias) => `<br>or ${code(alias)}`).join("");
  return `${code(envName(key))}${aliases}`;
}

function defaultCell(spec: KeySpec): string {
  return spec.default === "" || spec.default === undefined ? "(unset)" : code(String(spec.default));
}

function acceptsCell(spec: KeySpec): string {
  return cellText(describeType(spec.type)) + (spec.secret ? "; **secret**" : "");
}

const code = (text: string): string => `\`${text}\``;
const cellText = (text: string): string => text.replaceAll("|", "\\|").replaceAll("\n", " ");

/** The text between the markers, or undefined when README lacks them. */
export function settingsSection(readme: string): string | undefined {
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END, start);
  if (start < 0 || end < 0) return undefined;
  return readme.slice(start + BEGIN.length, end);
}

/** README with the text between the markers replaced by `settings`. */
export function withSettings(readme: string, settings: string): string {
  if (settingsSection(readme) === undefined) throw new Error(`README.md lacks the ${BEGIN} … ${END} markers`);
  const start = readme.indexOf(BEGIN) + BEGIN.length;
  return `${readme.slice(0, start)}\n${settings}${readme.slice(readme.indexOf(END, start))}`;
}

if (import.meta.main) {
  const readme = readFileSync(README_PATH, "utf8");
  const updated = withSettings(readme, renderSettings());
  if (process.argv.includes("--check")) {
    if (updated !== readme) {
      console.error(
        "README.md's settings table is out of date with core/src/config/schema.ts.\n" +
          "Run `npm run docs:config` (bun scripts/config-docs.ts) and commit README.md.",
      );
      process.exit(1);
    }
    console.log("README.md settings table is up to date.");
  } else if (updated !== readme) {
    writeFileSync(README_PATH, updated);
    console.log("README.md settings table rewritten.");
  } else {
    console.log("README.md settings table already up to date.");
  }
}
