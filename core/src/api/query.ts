/** Query-string helpers: booleans, repeated filters and DRF-style `ordering`. */
import { validationError } from "../../../shared/errors.ts";

/** A JSON path key that cannot be used: empty, or with a quote, backslash or control character in it. */
const unusableKey = (key: string) =>
  key === "" || [...key].some((c) => c === '"' || c === "\\" || c.charCodeAt(0) < 32);

/**
 * authentik's `attributes` filter (users, groups): a JSON object whose keys are attribute paths, nested
 * keys joined by "__" as in Django lookups, and whose values must equal the attribute's. Undefined when
 * absent; a 400 when it is not a JSON object or a key is unusable.
 */
export function attributesParam(params: URLSearchParams): { path: string[]; value: unknown }[] | undefined {
  const raw = params.get("attributes");
  if (raw === null) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw validationError("API0022AttributesNotJson", { attributes: ["filter: failed to parse JSON"] });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw validationError("API0023AttributesNotMapping", {
      attributes: ["filter: value must be key:value mapping"],
    });
  return Object.entries(parsed).map(([key, value]) => {
    const path = key.split("__");
    if (path.some(unusableKey))
      throw validationError("API0024AttributesKey", {
        attributes: [`filter: unusable key ${JSON.stringify(key)}`],
      });
    return { path, value };
  });
}

export function boolParam(params: URLSearchParams, name: string): boolean | undefined {
  const raw = params.get(name);
  if (raw === null || raw === "") return undefined;
  const v = raw.toLowerCase();
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw validationError("API0020InvalidBoolean", { [name]: ["Must be a valid boolean."] });
}

export function listParam(params: URLSearchParams, name: string): string[] {
  return params
    .getAll(name)
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");
}

export function intListParam(params: URLSearchParams, name: string): number[] {
  return listParam(params, name).map((v) => {
    if (!/^\d+$/.test(v))
      throw validationError("API0021InvalidInteger", { [name]: [`"${v}" is not a valid integer.`] });
    return Number(v);
  });
}

export interface OrderBy<C extends string> {
  column: C;
  direction: "asc" | "desc";
}

/** `ordering=-username,name`; unknown fields are ignored, as Django REST framework does. */
export function orderingParam<C extends string>(
  params: URLSearchParams,
  allowed: Record<string, C>,
  fallback: OrderBy<C>[],
): OrderBy<C>[] {
  const chosen: OrderBy<C>[] = [];
  for (const field of listParam(params, "ordering")) {
    const desc = field.startsWith("-");
    const name = desc ? field.slice(1) : field;
    // Own keys only: "toString" or "constructor" are not columns.
    if (Object.hasOwn(allowed, name)) {
      chosen.push({ column: allowed[name] as C, direction: desc ? "desc" : "asc" });
    }
  }
  return chosen.length > 0 ? chosen : fallback;
}

/** Escapes LIKE wildcards in user input so a search for "a_b" matches only that. */
export function likePattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
