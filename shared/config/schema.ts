/**
 * A configuration schema is the single source of truth for keys, defaults, validation and docs.
 * Keys are "section.key" or a top-level "key"; the environment name is GATEHOUSE_SECTION__KEY.
 */
export type KeyType =
  | { kind: "string" }
  | { kind: "int"; min?: number; max?: number }
  | { kind: "bool" }
  | { kind: "enum"; values: readonly string[] }
  | { kind: "listen" }
  | { kind: "url"; protocols: readonly string[] };

export interface KeySpec<T = unknown> {
  type: KeyType;
  default: T;
  doc: string;
  /** Secret values may be given as file:///path or env://NAME and are never logged. */
  secret?: boolean;
  /** Extra environment names accepted for this key (e.g. authentik's AUTHENTIK_BOOTSTRAP_PASSWORD). */
  aliases?: readonly string[];
}

export type ConfigSchema = Record<string, KeySpec>;

export type ConfigValues<S extends ConfigSchema> = { [K in keyof S]: S[K]["default"] };

export const ENV_PREFIX = "GATEHOUSE_";

export function envName(key: string): string {
  return ENV_PREFIX + key.replace(".", "__").toUpperCase();
}

export const str = (def: string, doc: string, extra: Partial<KeySpec<string>> = {}): KeySpec<string> => ({
  type: { kind: "string" },
  default: def,
  doc,
  ...extra,
});
export const optionalSecret = (doc: string, aliases: readonly string[] = []): KeySpec<string> => ({
  type: { kind: "string" },
  default: "",
  doc,
  secret: true,
  aliases,
});
export const int = (def: number, doc: string, min?: number, max?: number): KeySpec<number> => ({
  type: { kind: "int", ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) },
  default: def,
  doc,
});
export const bool = (def: boolean, doc: string, aliases: readonly string[] = []): KeySpec<boolean> => ({
  type: { kind: "bool" },
  default: def,
  doc,
  aliases,
});
export const oneOf = <const V extends readonly string[]>(
  values: V,
  def: V[number],
  doc: string,
): KeySpec<V[number]> => ({
  type: { kind: "enum", values },
  default: def,
  doc,
});
export const listen = (def: string, doc: string): KeySpec<string> => ({
  type: { kind: "listen" },
  default: def,
  doc,
});

/** Describes what a key accepts, for error messages and the generated docs. */
export function describeType(type: KeyType): string {
  switch (type.kind) {
    case "string":
      return "a string";
    case "int":
      return `an integer${type.min === undefined ? "" : ` ≥ ${type.min}`}${type.max === undefined ? "" : ` ≤ ${type.max}`}`;
    case "bool":
      return "true or false";
    case "enum":
      return `one of ${type.values.join(", ")}`;
    case "listen":
      return "host:port (e.g. 0.0.0.0:9000, [::]:9000)";
    case "url":
      return `a URL (${type.protocols.join(", ")})`;
  }
}
