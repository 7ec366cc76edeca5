/**
 * The `proxy` suite's Gatehouse side: a core (child process, SQLite) with a proxy provider in proxy mode
 * whose internal host is the suite's upstream, its application, a proxy outpost and a user; the outpost
 * as a child process (the compiled binary when it builds, else `bun outposts/proxy/main.ts`); and one
 * signed-in session made the way a browser makes it: sign in at the core, GET the app → /start →
 * authorize → the authorization flow → /callback, keeping the proxy cookie the callback sets.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { compileCommand } from "../../scripts/compile.ts";
import { randomSecret } from "../../shared/crypto.ts";
import { FlowClient } from "../support/flow-client.ts";
import { type CoreProcess, freePort, Install, stopProcess } from "../support/process.ts";
import { onCleanup } from "./cleanup.ts";
import { pin } from "./ldap-gatehouse.ts";

const MAIN = resolve(import.meta.dir, "../../outposts/proxy/main.ts");
const READY_TIMEOUT_MS = 60_000;
const USERNAME = "bench-user";
const PASSWORD = "Bench-Password-Correct-1";

export interface ProxyOutpost {
  /** http://127.0.0.1:PORT: the outpost's HTTP listener, also the provider's external host. */
  url: string;
  pid: number;
  /** What runs: the binary's path or `bun outposts/proxy/main.ts`. */
  command: string;
  /** The signed-in session, `authentik_proxy_xxxxxxxx=value`. */
  cookie: string;
}

/**
 * The binary to run: GATEHOUSE_BENCH_PROXY_OUTPOST_BIN, else outposts/proxy/main.ts compiled now (with
 * scripts/build.ts's flags) into `dir`, so the figures are those of the code in the tree; undefined when
 * it does not build.
 */
async function outpostBinary(dir: string): Promise<string | undefined> {
  const given = process.env.GATEHOUSE_BENCH_PROXY_OUTPOST_BIN;
  if (given) return given;
  const out = join(dir, "gatehouse-proxy");
  const proc = Bun.spawn(compileCommand(MAIN, out), { stdout: "ignore", stderr: "pipe" });
  if ((await proc.exited) === 0) return out;
  console.log(
    `proxy outpost: the binary did not build, running bun: ${await new Response(proc.stderr).text()}`,
  );
  return undefined;
}

/** Starts the core and the outpost (pinned to `outpostCpus`), signs in once; all undone by cleanup. */
export async function startProxyOutpost(
  upstream: string,
  cpus: { outpost?: string; core?: string },
  profileDir?: string,
): Promise<ProxyOutpost> {
  const token = `bench-${randomSecret()}`;
  const install = await Install.create("sqlite", {
    GATEHOUSE_BOOTSTRAP_TOKEN: token,
    GATEHOUSE_BOOTSTRAP_PASSWORD: randomSecret(),
    GATEHOUSE_LOG__LEVEL: "warn",
  });
  onCleanup(() => install.dispose());
  const core = await install.start();
  pin(core.proc.pid, cpus.core);
  const api = core.api(token);
  const flowPk = async (slug: string) => (await api<{ pk: string }>("GET", `/flows/instances/${slug}/`)).pk;

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const provider = await api<{ pk: number }>("POST", "/providers/proxy/", {
    name: "bench-proxy",
    authorization_flow: await flowPk("default-provider-authorization-implicit-consent"),
    invalidation_flow: await flowPk("default-provider-invalidation-flow"),
    mode: "proxy",
    external_host: url,
    internal_host: upstream,
  });
  await api("POST", "/core/applications/", {
    name: "bench-proxy",
    slug: "bench-proxy",
    provider: provider.pk,
  });
  const outpost = await api<{ pk: string }>("POST", "/outposts/instances/", {
    name: "bench-proxy",
    type: "proxy",
    providers: [provider.pk],
    config: {},
  });
  const outpostToken = (
    await api<{ key: string }>("GET", `/core/tokens/ak-outpost-${outpost.pk}-api/view_key/`)
  ).key;
  const user = await api<{ pk: number }>("POST", "/core/users/", {
    username: USERNAME,
    name: "Bench User",
    email: "bench-user@example.test",
  });
  await api("POST", `/core/users/${user.pk}/set_password/`, { password: PASSWORD });

  const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-bench-proxy-"));
  onCleanup(() => rmSync(dataDir, { recursive: true, force: true }));
  const binary = await outpostBinary(dataDir);
  const command = binary ? [binary] : [process.execPath, MAIN];
  const proc: Subprocess = Bun.spawn(cpus.outpost ? ["taskset", "-c", cpus.outpost, ...command] : command, {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      GATEHOUSE_HOST: core.url,
      GATEHOUSE_TOKEN: outpostToken,
      GATEHOUSE_DATA_DIR: dataDir,
      GATEHOUSE_LISTEN__HTTP: `127.0.0.1:${port}`,
      GATEHOUSE_LISTEN__HTTPS: `127.0.0.1:${await freePort()}`,
      GATEHOUSE_LISTEN__METRICS: "127.0.0.1:0",
      GATEHOUSE_LOG__LEVEL: "warn",
      ...(profileDir && { BUN_OPTIONS: `--cpu-prof --cpu-prof-md --cpu-prof-dir=${profileDir}` }),
    },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "inherit",
  });
  onCleanup(() => stopProcess(proc, 10_000));
  await waitForPing(url, proc);
  const cookie = await signIn(core, url);
  return {
    url,
    pid: proc.pid,
    command: binary ? "compiled binary (bun build --compile)" : "bun outposts/proxy/main.ts",
    cookie,
  };
}

async function waitForPing(url: string, proc: Subprocess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (proc.exitCode !== null)
      throw new Error(`the proxy outpost exited (${proc.exitCode}) before listening`);
    const res = await fetch(`${url}/outpost.goauthentik.io/ping`).catch(() => undefined);
    if (res?.status === 204) return;
    if (Date.now() > deadline)
      throw new Error(`the proxy outpost did not listen within ${READY_TIMEOUT_MS} ms`);
    await Bun.sleep(100);
  }
}

/** The browser's walk; returns the proxy session cookie as `name=value`. */
async function signIn(core: CoreProcess, app: string): Promise<string> {
  const jar = new Map<string, string>();
  const get = async (to: string) => {
    const res = await fetch(to, {
      redirect: "manual",
      headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") },
    });
    await res.arrayBuffer();
    for (const line of res.headers.getSetCookie()) {
      const pair = line.split(";")[0] ?? "";
      const eq = pair.indexOf("=");
      jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    const location = res.headers.get("location");
    if (res.status !== 302 || !location)
      throw core.failure(`GET ${to} answered ${res.status}, not a redirect`);
    return new URL(location, to).href;
  };
  const browser = new FlowClient((request) =>
    fetch(new Request(request.url.replace("http://localhost", core.url), request), { redirect: "manual" }),
  );
  const signedIn = await browser.login("default-authentication-flow", USERNAME, PASSWORD);
  if (signedIn.component !== "xak-flow-redirect")
    throw core.failure(`sign-in stopped at ${signedIn.component}`);
  jar.set("authentik_session", browser.cookie ?? "");
  const start = await get(`${app}/`);
  const authorize = await get(start);
  const flow = /^\/if\/flow\/([^/]+)\//.exec(new URL(await get(authorize)).pathname)?.[1];
  if (!flow) throw core.failure("authorize did not lead to a flow");
  browser.cookie = jar.get("authentik_session");
  const done = await browser.get(flow);
  if (done.component !== "xak-flow-redirect")
    throw core.failure(`the authorization flow ended with ${JSON.stringify(done).slice(0, 300)}`);
  await get(done.to);
  const name = [...jar.keys()].find((k) => /^authentik_proxy_[0-9a-f]{8}$/.test(k));
  if (!name) throw new Error("the outpost's callback set no session cookie");
  return `${name}=${jar.get(name)}`;
}
