/** Case-insensitive substring search and JSON field access that compile on both back ends. */
import { type RawBuilder, sql } from "kysely";
import { likePattern } from "../api/query.ts";
import type { StoreKind } from "./migrations/types.ts";

export function containsText(kind: StoreKind, column: string, term: string): RawBuilder<boolean> {
  const op = sql.raw(kind === "postgres" ? "ilike" : "like");
  return sql<boolean>`${sql.ref(column)} ${op} ${likePattern(term)} escape '\\'`;
}

/** The same over a JSON column's text (jsonb has no LIKE on PostgreSQL; SQLite keeps JSON as text). */
export function containsJsonText(kind: StoreKind, column: string, term: string): RawBuilder<boolean> {
  if (kind === "sqlite") return containsText(kind, column, term);
  return sql<boolean>`cast(${sql.ref(column)} as text) ilike ${likePattern(term)} escape '\\'`;
}

/** The text value of a top-level key of a JSON column. */
export function jsonText(kind: StoreKind, column: string, key: string): RawBuilder<string> {
  if (!/^[a-z_]+$/.test(key)) throw new Error(`unsupported JSON key ${key}`);
  return kind === "postgres"
    ? sql<string>`(${sql.ref(column)} ->> ${sql.lit(key)})`
    : sql<string>`json_extract(${sql.ref(column)}, ${sql.lit(`$.${key}`)})`;
}

/**
 * A JSON column's value at `path` (keys, outermost first) equals `value`, as JSON: Django's
 * `attributes__a__b=value`. Keys and value are bound, never spliced into the SQL.
 */
export function jsonEquals(
  kind: StoreKind,
  column: string,
  path: string[],
  value: unknown,
): RawBuilder<boolean> {
  const json = JSON.stringify(value);
  if (kind === "postgres") {
    const keys = sql.join(path.map((key) => sql`${key}`));
    // Bound as text and parsed by PostgreSQL: bound as jsonb, the driver would encode the JSON again.
    return sql<boolean>`jsonb_extract_path(${sql.ref(column)}, ${keys}) = cast(cast(${json} as text) as jsonb)`;
  }
  // SQLite: a path of quoted keys; json_extract gives both sides the same SQL type (text, number, 0/1,
  // or minified JSON for objects and arrays).
  const jsonPath = `$${path.map((key) => `."${key}"`).join("")}`;
  return sql<boolean>`json_extract(${sql.ref(column)}, ${jsonPath}) = json_extract(${json}, '$')`;
}

/** True for a unique-constraint violation; `column` names the column when the back end says. */
export function uniqueViolation(err: unknown): { column: string | undefined } | undefined {
  const e = err as { code?: string; constraint_name?: string; message?: string };
  if (e?.code === "23505") {
    const m = /^[a-z]+_([a-z_]+)_key$/.exec(e.constraint_name ?? "");
    return { column: m?.[1] };
  }
  const m = /UNIQUE constraint failed: \w+\.(\w+)/.exec(e?.message ?? "");
  return m ? { column: m[1] } : undefined;
}
