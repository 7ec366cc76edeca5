/**
 * Layers: schema defaults < YAML file named by GATEHOUSE_CONFIG < environment GATEHOUSE_SECTION__KEY.
 * Secrets may be given as file:///path or env://NAME. Every problem is collected and reported at once.
 */
import { readFileSync } from "node:fs";
import {
  type ConfigSchema,
  type ConfigValues,
  describeType,
  ENV_PREFIX,
  envName,
  type KeySpec,
} from "./schema.ts";

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

export interface LoadOptions {
  env?: Record<string, string | undefined>;
  /** Environment names that are not config keys but are still known (so they are not warned about). */
  knownEnv?: readonly string[];
  readFile?: (path: string) => string;
}

export interface Loaded<S extends ConfigSchema> {
  values: ConfigValues<S>;
  warnings: string[];
  /** Where each key's value came from: "default", "file", or the environment variable's name. */
  sources: Record<keyof S, string>;
}

/** Environment names read outside the config schema by every Gatehouse process. */
export const BASE_KNOWN_ENV = ["GATEHOUSE_CONFIG"] as const;

export function loadConfig<S extends ConfigSchema>(schema: S, options: LoadOptions = {}): Loaded<S> {
  const env = options.env ?? process.env;
  const readFile = options.readFile ?? ((p: string) => readFileSync(p, "utf8"));
  const problems: string[] = [];
  const warnings: string[] = [];
  const raw: Record<string, { value: unknown; source: string }> = {};

  const file = env.GATEHOUSE_CONFIG;
  if (file) {
    for (const [key, value] of Object.entries(readYamlFile(file, readFile, problems))) {
      if (key in schema) raw[key] = { value, source: "file" };
      else problems.push(`${key} (in ${file}): unknown key; known keys are listed in the README`);
    }
  }

  const known = new Set<string>([...BASE_KNOWN_ENV, ...(options.knownEnv ?? [])]);
  for (const [key, spec] of Object.entries(schema)) {
    const names = [envName(key), ...(spec.aliases ?? [])];
    for (const name of names) known.add(name);
    // The first name set wins: GATEHOUSE_* over its AUTHENTIK_* alias.
    const name = names.find((n) => env[n] !== undefined && env[n] !== "");
    if (name) raw[key] = { value: env[name], source: name };
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith(ENV_PREFIX) && !known.has(name)) {
      warnings.push(`${name} is set but is not a Gatehouse setting; it is ignored`);
    }
  }

  const values: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  for (const [key, spec] of Object.entries(schema)) {
    const given = raw[key];
    sources[key] = given?.source ?? "default";
    if (given === undefined) {
      values[key] = spec.default;
      continue;
    }
    const label = given.source === "file" ? `${key} (in ${file})` : `${key} (${given.source})`;
    const resolved = spec.secret ? resolveSecret(given.value, label, env, readFile, problems) : given.value;
    if (resolved === undefined) continue;
    const coerced = coerce(spec, resolved);
    if (coerced.ok) values[key] = coerced.value;
    else
      problems.push(
        `${label}: expected ${describeType(spec.type)}, got ${spec.secret ? "a value" : JSON.stringify(resolved)}`,
      );
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return { values: values as ConfigValues<S>, warnings, sources: sources as Record<keyof S, string> };
}

function readYamlFile(
  path: string,
  readFile: (p: string) => string,
  problems: string[],
): Record<string, unknown> {
  let doc: unknown;
  // Loaded only when there is a file: the YAML parser costs a process about 8 MB of memory.
  const yaml = require("yaml") as typeof import("yaml");
  try {
    // logLevel "error": yaml's warnings quote the source line, which may hold a secret.
    doc = yaml.parse(readFile(path), { logLevel: "error" });
  } catch (err) {
    problems.push(`GATEHOUSE_CONFIG: cannot read ${path}: ${describeYamlError(yaml, err)}`);
    return {};
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    problems.push(`GATEHOUSE_CONFIG: ${path} must hold a mapping of sections and keys`);
    return {};
  }
  return flatten(doc as Record<string, unknown>);
}

/** Where the file failed, without yaml's excerpt of the offending lines (they may hold a secret). */
function describeYamlError(yaml: typeof import("yaml"), err: unknown): string {
  if (!(err instanceof yaml.YAMLParseError)) return (err as Error).message;
  const at = err.linePos?.[0];
  return `${err.code}${at ? ` at line ${at.line}, column ${at.col}` : ""}`;
}

/** { listen: { http: "…" } } → { "listen.http": "…" }; top-level scalars keep their name. */
function flatten(doc: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [section, value] of Object.entries(doc)) {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) out[`${section}.${key}`] = inner;
    } else {
      out[section] = value;
    }
  }
  return out;
}

function resolveSecret(
  value: unknown,
  label: string,
  env: Record<string, string | undefined>,
  readFile: (p: string) => string,
  problems: string[],
): unknown {
  if (typeof value !== "string") return value;
  if (value.startsWith("file://")) {
    const path = decodeURIComponent(value.slice("file://".length));
    try {
      return readFile(path).replace(/\r?\n$/, "");
    } catch (err) {
      problems.push(
        `${label}: cannot read secret file ${path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`,
      );
      return undefined;
    }
  }
  if (value.startsWith("env://")) {
    const name = value.slice("env://".length);
    const found = env[name];
    if (found === undefined) problems.push(`${label}: refers to env://${name}, which is not set`);
    return found;
  }
  return value;
}

type Coerced = { ok: true; value: unknown } | { ok: false };

function coerce(spec: KeySpec, value: unknown): Coerced {
  const type = spec.type;
  const text = typeof value === "string" ? value.trim() : value;
  switch (type.kind) {
    case "string":
      return typeof text === "string" || typeof text === "number"
        ? { ok: true, value: String(text) }
        : { ok: false };
    case "int": {
      const n =
        typeof text === "number"
          ? text
          : typeof text === "string" && /^-?\d+$/.test(text)
            ? Number(text)
            : NaN;
      if (!Number.isSafeInteger(n)) return { ok: false };
      if ((type.min !== undefined && n < type.min) || (type.max !== undefined && n > type.max))
        return { ok: false };
      return { ok: true, value: n };
    }
    case "bool": {
      if (typeof text === "boolean") return { ok: true, value: text };
      const s = String(text).toLowerCase();
      if (["true", "1", "yes", "on"].includes(s)) return { ok: true, value: true };
      if (["false", "0", "no", "off"].includes(s)) return { ok: true, value: false };
      return { ok: false };
    }
    case "enum":
      return typeof text === "string" && type.values.includes(text)
        ? { ok: true, value: text }
        : { ok: false };
    case "listen":
      return typeof text === "string" && parseListen(text) ? { ok: true, value: text } : { ok: false };
    case "url": {
      if (typeof text !== "string") return { ok: false };
      try {
        const url = new URL(text);
        return type.protocols.includes(url.protocol) ? { ok: true, value: text } : { ok: false };
      } catch {
        return { ok: false };
      }
    }
  }
}

export interface ListenAddress {
  hostname: string;
  port: number;
}

/** "0.0.0.0:9000", "[::]:9000", "localhost:0" → { hostname, port }. */
export function parseListen(value: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { hostname: (m[1] ?? m[2]) as string, port };
}
