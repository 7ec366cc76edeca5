/**
 * An in-process core on a throwaway store, for API tests: requests go through `app.handle` with no
 * network. `forEachBackend` runs a suite on SQLite and, when GATEHOUSE_TEST_POSTGRES_URL is set, PostgreSQL.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CoreConfig, testConfig } from "../../core/src/config/index.ts";
import { type Clock, systemClock } from "../../core/src/context.ts";
import { type Core, createCore } from "../../core/src/core.ts";
import { createTestDatabase, postgresTestUrl } from "../../core/src/store/testing.ts";
import { memoryLogger } from "../../shared/log.ts";

export const ADMIN_TOKEN = "test-admin-token-0123456789abcdefghijklmnop";

export type BackendName = "sqlite" | "postgres";

export function backendNames(): BackendName[] {
  return postgresTestUrl ? ["sqlite", "postgres"] : ["sqlite"];
}

export interface TestCore {
  core: Core;
  config: CoreConfig;
  logs: ReturnType<typeof memoryLogger>["lines"];
  /** Sends a request to the app; `token` defaults to the admin's; `null` sends none. */
  api(
    method: string,
    path: string,
    options?: { token?: string | null; body?: unknown; headers?: Record<string, string> },
  ): Promise<ApiResponse>;
  /** Opens a second core on the same data (a restart). */
  restart(): Promise<TestCore>;
  stop(): Promise<void>;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON shapes
  body: any;
  text: string;
}

export async function startTestCore(
  backend: BackendName,
  overrides: Partial<CoreConfig> = {},
  clock: Clock = systemClock,
): Promise<TestCore> {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-test-"));
  const db =
    backend === "postgres" && postgresTestUrl ? await createTestDatabase(postgresTestUrl) : undefined;
  const config = testConfig({
    data_dir: dir,
    bootstrap_token: ADMIN_TOKEN,
    bootstrap_password: "akadmin-password",
    ...(db && { "postgresql.url": db.url, "postgresql.pool_max": 4 }),
    ...overrides,
  });
  const cleanup = async () => {
    rmSync(dir, { recursive: true, force: true });
    await db?.drop();
  };
  return open(config, clock, cleanup);
}

async function open(config: CoreConfig, clock: Clock, cleanup: () => Promise<void>): Promise<TestCore> {
  const log = memoryLogger("debug");
  const core = await createCore(config, log, clock);
  let closed = false;
  const test: TestCore = {
    core,
    config,
    logs: log.lines,
    async api(method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      const token = options.token === undefined ? ADMIN_TOKEN : options.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      let body: string | undefined;
      if (options.body !== undefined) {
        body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
        headers["content-type"] ??= "application/json";
      }
      const res = await core.app.handle(new Request(`http://localhost${path}`, { method, headers, body }));
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.status, headers: res.headers, body: parsed, text };
    },
    async restart() {
      if (!closed) await core.close();
      closed = true;
      return open(config, clock, cleanup);
    },
    async stop() {
      if (!closed) await core.close();
      closed = true;
      await cleanup();
    },
  };
  return test;
}
