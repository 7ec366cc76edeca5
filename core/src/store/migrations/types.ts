/** Column types per back end, so one migration body serves SQLite and PostgreSQL. */
import type { Kysely } from "kysely";

export type StoreKind = "sqlite" | "postgres";

export interface ColumnTypes {
  serial: "integer" | "serial";
  timestamp: "text" | "timestamptz";
  json: "text" | "jsonb";
  bool: "integer" | "boolean";
}

export function columnTypes(kind: StoreKind): ColumnTypes {
  return kind === "sqlite"
    ? { serial: "integer", timestamp: "text", json: "text", bool: "integer" }
    : { serial: "serial", timestamp: "timestamptz", json: "jsonb", bool: "boolean" };
}

export interface StoreMigration {
  name: string;
  up(db: Kysely<unknown>, kind: StoreKind): Promise<void>;
}
