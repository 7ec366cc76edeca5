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
