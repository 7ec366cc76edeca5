/** Query-string helpers: booleans, repeated filters and DRF-style `ordering`. */
import { validationError } from "../../../shared/errors.ts";

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
