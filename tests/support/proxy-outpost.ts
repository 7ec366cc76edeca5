/**
 * The proxy outpost's end-to-end set-up: an in-process core on a real HTTP port with alice (a group, an
 * app password), proxy providers and a proxy outpost made through the API, and the compiled
 * dist/gatehouse-proxy started as a child process (built once per test run, see outposts.ts). A replica
 * is one more process with the same token; `restart()` stops one and starts it again on the same port.
 */
import { expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { type RunningServer, startServer } from "../../core/src/http/server.ts";
import { memoryLogger } from "../../shared/log.ts";
import { startTestCore, type TestCore } from "./core.ts";
import { outpostCommand } from "./outposts.ts";
import { eventually } from "./polling.ts";
import { freePort, stopProcess } from "./process.ts";

const READY_TIMEOUT_MS = 20_000;
export const ALICE = { username: "alice", password: "alice-password-1" };

export interface ProxyProvider {
  pk: number;
  client_id: string;
  name: string;
}

export interface OutpostProcess {
  port: number;
  /** http://127.0.0.1:PORT */
  url: string;
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

/**
 * A proxy provider made through the API, with an application of the same name. The flows are named by
 * slug: implicit consent and the provider invalidation flow (which leaves the core session) by default.
 */
export async function createProxyProvider(
  t: TestCore,
  name: string,
  body: Record<string, unknown>,
  flows: { authorization?: string; invalidation?: string } = {},
): Promise<ProxyProvider> {
  const flow = async (slug: string) =>
    (await t.api("GET", `/api/v3/flows/instances/${slug}/`)).body.pk as string;
  const res = await t.api("POST", "/api/v3/providers/proxy/", {
    body: {
      name,
      authorization_flow: await flow(
        flows.authorization ?? "default-provider-authorization-implicit-consent",
      ),
      invalidation_flow: await flow(flows.invalidation ?? "default-provider-invalidation-flow"),
      ...body,
    },
  });
  expect(res.status, res.text).toBe(201);
  const app = await t.api("POST", "/api/v3/core/applications/", {
    body: { name, slug: name, provider: res.body.pk },
  });
  expect(app.status, app.text).toBe(201);
  return { pk: res.body.pk, client_id: res.body.client_id, name };
}

export class ProxyFixture {
  outpostUuid = "";
  private outpostToken = "";
  private readonly running = new Set<OutpostProcess>();
  private readonly dirs: string[] = [];

  private constructor(
    readonly t: TestCore,
    readonly core: RunningServer,
    /** http://127.0.0.1:PORT */
    readonly coreUrl: string,
    readonly alice: number,
    readonly appPassword: string,
  ) {}

  static async start(): Promise<ProxyFixture> {
    const t = await startTestCore("sqlite");
    const core = startServer(t.core, memoryLogger("warn"), "127.0.0.1:0");
    const user = await t.api("POST", "/api/v3/core/users/", {
      body: { username: ALICE.username, name: "Alice Liddell", email: "alice@example.test" },
    });
    expect(user.status, user.text).toBe(201);
    await t.api("POST", `/api/v3/core/users/${user.body.pk}/set_password/`, {
      body: { password: ALICE.password },
    });
    const group = await t.api("POST", "/api/v3/core/groups/", {
      body: { name: "readers", users: [user.body.pk] },
    });
    expect(group.status, group.text).toBe(201);
    const token = await t.api("POST", "/api/v3/core/tokens/", {
      body: { identifier: "alice-app", intent: "app_password", user: user.body.pk, expiring: false },
    });
    expect(token.status, token.text).toBe(201);
    const key = (await t.api("GET", "/api/v3/core/tokens/alice-app/view_key/")).body.key as string;
    return new ProxyFixture(t, core, core.url, user.body.pk, key);
  }

  /**
   * A proxy provider with an application of the same name. Its invalidation flow ends the core session
   * (sign-out ends the session everywhere); the authorization flow is `authorization` (implicit consent
   * by default).
   */
  provider(
    name: string,
    body: Record<string, unknown>,
    authorization = "default-provider-authorization-implicit-consent",
  ): Promise<ProxyProvider> {
    return createProxyProvider(this.t, name, body, {
      authorization,
      invalidation: "default-invalidation-flow",
    });
  }

  /** Creates the proxy outpost (first call) or sets the providers it serves. */
  async serve(providers: number[]): Promise<void> {
    if (this.outpostUuid) {
      const res = await this.t.api("PATCH", `/api/v3/outposts/instances/${this.outpostUuid}/`, {
        body: { providers },
      });
      expect(res.status, res.text).toBe(200);
      return;
    }
    const created = await this.t.api("POST", "/api/v3/outposts/instances/", {
      body: { name: "edge", type: "proxy", providers, config: {} },
    });
    expect(created.status, created.text).toBe(201);
    this.outpostUuid = created.body.pk;
    this.outpostToken = (
      await this.t.api("GET", `/api/v3/core/tokens/${created.body.token_identifier}/view_key/`)
    ).body.key;
  }

  /** The outpost instances whose control channel the core sees (by instance uid). */
  async healthy(): Promise<Set<string>> {
    const res = await this.t.api("GET", `/api/v3/outposts/instances/${this.outpostUuid}/health/`);
    return new Set((res.body as { uid: string }[]).map((h) => h.uid));
  }

  /**
   * Starts dist/gatehouse-proxy on `port` (a free one by default) and waits until it answers its ping
   * and the core lists one more healthy instance (its control channel is up, so SESSION_END reaches it).
   * `env` adds settings (GATEHOUSE_PROXY__UPSTREAM_TIMEOUT, …) to its environment.
   */
  async startOutpost(port?: number, env: Record<string, string> = {}): Promise<OutpostProcess> {
    const listen = port ?? (await freePort());
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-proxy-e2e-"));
    this.dirs.push(dir);
    const before = await this.healthy();
    const proc: Subprocess<"ignore", "pipe", "pipe"> = Bun.spawn(
      await outpostCommand("proxy", "binary", dir),
      {
        env: {
          PATH: process.env.PATH,
          GATEHOUSE_HOST: this.coreUrl,
          GATEHOUSE_TOKEN: this.outpostToken,
          GATEHOUSE_DATA_DIR: dir,
          GATEHOUSE_LISTEN__HTTP: `127.0.0.1:${listen}`,
          GATEHOUSE_LISTEN__HTTPS: "127.0.0.1:0",
          GATEHOUSE_LISTEN__METRICS: "127.0.0.1:0",
          GATEHOUSE_LOG__LEVEL: "info",
          ...env,
        },
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    const chunks: string[] = [];
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) chunks.push(decoder.decode(chunk, { stream: true }));
    };
    const drained = Promise.all([collect(proc.stdout), collect(proc.stderr)]);
    const url = `http://127.0.0.1:${listen}`;
    let stopping: Promise<void> | undefined;
    const outpost: OutpostProcess = {
      port: listen,
      url,
      pid: proc.pid,
      output: () => chunks.join(""),
      stop: () => {
        stopping ??= (async () => {
          await stopProcess(proc, 10_000);
          await drained;
          this.running.delete(outpost);
        })();
        return stopping;
      },
    };
    this.running.add(outpost);
    try {
      await eventually(
        "the outpost's ping",
        async () => {
          if (proc.exitCode !== null) throw new Error(`exited (${proc.exitCode})`);
          const ping = await fetch(`${url}/outpost.goauthentik.io/ping`).catch(() => undefined);
          return ping?.status === 204 ? true : undefined;
        },
        READY_TIMEOUT_MS,
      );
      await eventually(
        "the outpost's control channel",
        async () => {
          const now = await this.healthy();
          return [...now].some((uid) => !before.has(uid)) ? true : undefined;
        },
        READY_TIMEOUT_MS,
      );
    } catch (err) {
      await outpost.stop();
      throw new Error(`gatehouse-proxy did not start: ${(err as Error).message}\n${outpost.output()}`);
    }
    return outpost;
  }

  /** Ends every core session of alice (DELETE /core/authenticated_sessions/<uuid>/). */
  async endAliceSessions(): Promise<number> {
    const sessions = await this.t.api("GET", "/api/v3/core/authenticated_sessions/?user__username=alice");
    const uuids = (sessions.body.results as { uuid: string }[]).map((s) => s.uuid);
    for (const uuid of uuids) {
      const res = await this.t.api("DELETE", `/api/v3/core/authenticated_sessions/${uuid}/`);
      expect(res.status, res.text).toBe(204);
    }
    return uuids.length;
  }

  /** An access token for alice from `provider`'s client (client_credentials with her app password). */
  async accessToken(provider: ProxyProvider): Promise<string> {
    const res = await fetch(`${this.coreUrl}/application/o/token/`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: provider.client_id,
        username: ALICE.username,
        password: this.appPassword,
        scope: "openid profile email ak_proxy",
      }),
    });
    const body = (await res.json()) as { access_token?: string };
    expect(res.status, JSON.stringify(body)).toBe(200);
    return body.access_token as string;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.running].map((o) => o.stop()));
    await this.core.stop();
    await this.t.stop();
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}
