/**
 * Kysely over bun:sqlite. Kysely's own SqliteDialect drives a better-sqlite3-shaped database; this adapts
 * bun:sqlite to that shape, reusing bun's statement cache (`db.query`) and binding JS values the way the
 * PostgreSQL path stores them (booleans as 0/1, dates as ISO-8601 text).
 */
import type { Database as BunDatabase, SQLQueryBindings } from "bun:sqlite";
import {
  type DialectAdapter,
  SqliteAdapter,
  type SqliteDatabase,
  SqliteDialect,
  type SqliteStatement,
} from "kysely";

function bind(value: unknown): SQLQueryBindings {
  if (value === undefined) return null;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value instanceof Date) return value.toISOString();
  // JSON columns are handed objects (see codec.ts asJson); SQLite keeps them as text.
  if (value !== null && typeof value === "object" && !ArrayBuffer.isView(value)) return JSON.stringify(value);
  return value as SQLQueryBindings;
}

function adapt(db: BunDatabase): SqliteDatabase {
  return {
    close: () => db.close(),
    prepare(sql: string): SqliteStatement {
      const stmt = db.query(sql);
      const params = (p: ReadonlyArray<unknown>) => p.map(bind);
      return {
        reader: stmt.columnNames.length > 0,
        all: (p) => stmt.all(...params(p)) as unknown[],
        run: (p) => stmt.run(...params(p)),
        iterate: (p) => stmt.iterate(...params(p)) as IterableIterator<unknown>,
      };
    },
  };
}

/** SQLite does run DDL inside transactions; saying so makes each migration all-or-nothing. */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class BunSqliteDialect extends SqliteDialect {
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

export function bunSqliteDialect(db: BunDatabase): SqliteDialect {
  return new BunSqliteDialect({ database: adapt(db) });
}
