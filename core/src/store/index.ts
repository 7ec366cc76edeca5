/**
 * The store: one Kysely query path over bun:sqlite (default) or PostgreSQL through postgres.js.
 */
import { Database as BunDatabase } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Kysely, sql } from "kysely";
import { PostgresJSDialect } from "kysely-postgres-js";
import postgres from "postgres";
import type { Database } from "./database.ts";
import type { StoreKind } from "./migrations/types.ts";
import { bunSqliteDialect } from "./sqlite-dialect.ts";

export type { Database } from "./database.ts";
export type { StoreKind } from "./migrations/types.ts";

export interface Store {
  readonly db: Kysely<Database>;
  readonly kind: StoreKind;
  /** Where the data lives, with no credentials (for logs). */
  readonly location: string;
  /** The case-insensitive LIKE operator of this back end. */
  readonly ilike: "like" | "ilike";
  ping(): Promise<boolean>;
  close(): Promise<void>;
  /** Messages between core replicas (PostgreSQL LISTEN/NOTIFY); absent on SQLite, where one process is all. */
  readonly pubsub?: PubSub;
}

export interface PubSub {
  publish(channel: string, payload: string): Promise<void>;
  /** Resolves once listening; the returned function stops. */
  subscribe(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>>;
}

export type StoreOptions =
  | { kind: "sqlite"; path: string }
  | { kind: "postgres"; url: string; poolMax?: number }
  | {
      kind: "postgres";
      host: string;
      port: number;
      database: string;
      user: string;
      password: string;
      poolMax?: number;
    };

export function openStore(options: StoreOptions): Store {
  return options.kind === "sqlite" ? openSqlite(options.path) : openPostgres(options);
}

function openSqlite(path: string): Store {
  if (path !== ":memory:") mkdirSync(join(path, ".."), { recursive: true });
  const raw = new BunDatabase(path, { create: true, strict: false });
  raw.exec("PRAGMA journal_mode = WAL");
  raw.exec("PRAGMA synchronous = NORMAL");
  raw.exec("PRAGMA foreign_keys = ON");
  raw.exec("PRAGMA busy_timeout = 5000");
  const db = new Kysely<Database>({ dialect: bunSqliteDialect(raw) });
  return {
    db,
    kind: "sqlite",
    location: path,
    ilike: "like",
    ping: async () => {
      try {
        raw.query("select 1").get();
        return true;
      } catch {
        return false;
      }
    },
    close: () => db.destroy(),
  };
}

/** How long closing a PostgreSQL store waits for its connections to end before cutting them. */
const CLOSE_TIMEOUT_S = 5;

function openPostgres(options: Extract<StoreOptions, { kind: "postgres" }>): Store {
  // JIT compilation of the recursive group queries cost ~85 ms a request when table statistics are
  // missing (right after an import); the queries themselves run in microseconds.
  const common = {
    max: options.poolMax ?? 10,
    onnotice: () => {},
    connect_timeout: 10,
    connection: { jit: "off", application_name: "gatehouse" },
  };
  const client =
    "url" in options
      ? postgres(options.url, common)
      : postgres({
          ...common,
          host: options.host,
          port: options.port,
          database: options.database,
          username: options.user,
          password: options.password,
        });
  const db = new Kysely<Database>({ dialect: new PostgresJSDialect({ postgres: client }) });
  const location =
    "url" in options
      ? redactUrl(options.url)
      : `postgres://${options.host}:${options.port}/${options.database}`;
  return {
    db,
    kind: "postgres",
    location,
    ilike: "ilike",
    ping: async () => {
      try {
        await sql`select 1`.execute(db);
        return true;
      } catch {
        return false;
      }
    },
    // postgres.js's end() can wait forever on a connection that Kysely reserved and released
    // (porsager/postgres#925): seen as a core hanging on SIGTERM with no query left on the server.
    // Everything that queries has stopped by the time the store closes, so a bounded wait loses nothing.
    close: () => client.end({ timeout: CLOSE_TIMEOUT_S }),
    pubsub: {
      publish: async (channel, payload) => {
        await client.notify(channel, payload);
      },
      subscribe: async (channel, onMessage) => {
        const { unlisten } = await client.listen(channel, onMessage);
        return unlisten;
      },
    },
  };
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = "";
    u.username = u.username ? u.username : "";
    return u.toString();
  } catch {
    return "postgres://(unparsable url)";
  }
}
