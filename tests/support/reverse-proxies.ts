/**
 * nginx and Caddy as real reverse proxies for end-to-end tests and benchmarks: each writes its config
 * into a temporary directory, runs in the foreground as the current user on a free port of 127.0.0.1
 * (nginx: no daemon, pid, logs and temp files in that directory; Caddy: admin API off, its data and
 * config homes in that directory) and stops cleanly. The forward-auth configurations are the ones the
 * README's "Protecting an app with the proxy outpost" section gives as snippets; keep the two in step.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort, stopProcess } from "./process.ts";
import { needTool } from "./tools.ts";

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
/** Host names the forward-auth configurations answer to; clients send them as `Host`. */
export const APP_HOST = "app.gatehouse.test";
export const AUTH_HOST = "auth.gatehouse.test";

export type ForwardMode = "forward_single" | "forward_domain";

/** The X-authentik-* headers the outpost sets (reference §4), spelled as Caddy's `copy_headers` wants them. */
export const IDENTITY_HEADERS = [
  "X-Authentik-Username",
  "X-Authentik-Groups",
  "X-Authentik-Entitlements",
  "X-Authentik-Email",
  "X-Authentik-Name",
  "X-Authentik-Uid",
  "X-Authentik-Jwt",
  "X-Authentik-Meta-Jwks",
  "X-Authentik-Meta-Outpost",
  "X-Authentik-Meta-Provider",
  "X-Authentik-Meta-App",
  "X-Authentik-Meta-Version",
];

export interface ForwardAuthSite {
  mode: ForwardMode;
  /** The protected app, http://127.0.0.1:PORT. */
  upstream: string;
  /** Where the proxy reaches the outpost, http://127.0.0.1:PORT (no path). */
  outpost: string;
}

export interface ReverseProxy {
  kind: "nginx" | "caddy" | "haproxy";
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** The master process (nginx) or the only one (Caddy, HAProxy). */
  pid: number;
  dir: string;
  /** The URL of `host` on this server (the forward-auth configs pick their site by Host). */
  hostUrl(host: string): string;
  /** The error log (nginx) or stderr (Caddy), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

const running = new Set<Subprocess>();
// Last resort when a run is interrupted: no proxy outlives the process that started it.
process.once("exit", () => {
  for (const proc of running) proc.kill("SIGKILL");
});

// ---------------------------------------------------------------------------------------------- nginx

/** nginx proxying `upstream` directly, with kept-alive upstream connections: the benchmark anchor. */
export function nginxDirectProxy(upstream: string): (port: number) => string {
  return (port) => `upstream app {
    server ${hostPort(upstream)};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
    }
  }`;
}

/**
 * authentik's nginx snippet: `auth_request` to the outpost for every request to the app, 401 → sign-in.
 * forward_single: one server (any Host) whose sign-in starts on the app's own /outpost.goauthentik.io.
 * forward_domain: the app on APP_HOST sends sign-in to the auth host (the provider's external host), a
 * second server on AUTH_HOST that passes everything to the outpost.
 */
export function nginxForwardAuth(site: ForwardAuthSite): (port: number) => string {
  return (port) => {
    const signIn =
      site.mode === "forward_single"
        ? "/outpost.goauthentik.io/start?rd=$scheme://$http_host$request_uri"
        : `http://${AUTH_HOST}:${port}/outpost.goauthentik.io/start?rd=$scheme://$http_host$request_uri`;
    const app = `server {
    listen 127.0.0.1:${port};
    server_name ${site.mode === "forward_single" ? "_" : APP_HOST};
    proxy_buffers 8 16k;
    proxy_buffer_size 32k;
    port_in_redirect off;
    # Keep the sign-in redirect relative, so the browser stays on the port it came in on.
    absolute_redirect off;

    location / {
      proxy_pass ${site.upstream};
      proxy_set_header Host $http_host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $http_connection;
      proxy_http_version 1.1;

      auth_request /outpost.goauthentik.io/auth/nginx;
      error_page 401 = @goauthentik_proxy_signin;
      auth_request_set $auth_cookie $upstream_http_set_cookie;
      add_header Set-Cookie $auth_cookie;

${nginxIdentityHeaders()}
    }

    location /outpost.goauthentik.io {
      proxy_pass ${site.outpost}/outpost.goauthentik.io;
      proxy_set_header Host $host;
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      add_header Set-Cookie $auth_cookie;
      auth_request_set $auth_cookie $upstream_http_set_cookie;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
    }

    location @goauthentik_proxy_signin {
      internal;
      add_header Set-Cookie $auth_cookie;
      return 302 ${signIn};
    }
  }`;
    if (site.mode === "forward_single") return app;
    return `${app}
  server {
    listen 127.0.0.1:${port};
    server_name ${AUTH_HOST};
    location / {
      proxy_pass ${site.outpost};
      proxy_redirect off;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }`;
  };
}

/**
 * Every X-authentik-* header the outpost answers, taken from the auth response and set upstream. One
 * `proxy_set_header` per header also keeps a client's own header of that name from the app (an empty
 * value sends none). authentik's documented snippet lists only the first six, so a client's
 * X-authentik-jwt or X-authentik-meta-* would reach the app through it; this one lists them all.
 */
function nginxIdentityHeaders(): string {
  const suffixes = IDENTITY_HEADERS.map((name) => name.slice("X-Authentik-".length).toLowerCase());
  const variable = (suffix: string) => `$authentik_${suffix.replaceAll("-", "_")}`;
  return [
    ...suffixes.map(
      (s) => `auth_request_set ${variable(s)} $upstream_http_x_authentik_${s.replaceAll("-", "_")};`,
    ),
    ...suffixes.map((s) => `proxy_set_header X-authentik-${s} ${variable(s)};`),
  ]
    .map((line) => `      ${line}`)
    .join("\n");
}

export interface NginxOptions {
  /** worker_processes; 1 by default (the benchmarks compare it with single-threaded proxies). */
  workers?: number;
  /** Run on these CPUs (taskset -c), for benchmarks. */
  cpus?: string;
}

/** Starts nginx with the `http { … }` body `servers(port)` builds; resolves once the port accepts. */
export async function startNginx(
  servers: (port: number) => string,
  options: NginxOptions = {},
): Promise<ReverseProxy> {
  if (!Bun.which("nginx")) throw new Error("nginx is not installed (apt-get install nginx-light)");
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-nginx-"));
  for (const sub of ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(dir, sub));
  const port = await freePort();
  const conf = join(dir, "nginx.conf");
  const errorLog = join(dir, "error.log");
  // As root, nginx would hand its workers to `nobody`, who cannot use this directory.
  const user = process.getuid?.() === 0 ? "user root;\n" : "";
  writeFileSync(
    conf,
    `${user}daemon off;
worker_processes ${options.workers ?? 1};
pid ${dir}/nginx.pid;
error_log ${errorLog} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 0;
  ${servers(port)}
}
`,
  );
  const argv = ["nginx", "-p", dir, "-c", conf, "-e", errorLog];
  const proc = Bun.spawn(options.cpus ? ["taskset", "-c", options.cpus, ...argv] : argv, {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const stderr = new Response(proc.stderr).text();
  const log = () => readText(errorLog);
  return started("nginx", proc, port, dir, async () => `${await stderr}\n${log()}`, log);
}

// ---------------------------------------------------------------------------------------------- Caddy

/**
 * authentik's Caddy snippet: `forward_auth` to /outpost.goauthentik.io/auth/caddy, inside `route` so
 * the outpost's own paths are proxied before authentication. forward_single answers APP_HOST and starts
 * sign-in there; forward_domain adds AUTH_HOST, served wholly by the outpost (the outpost's redirect
 * decides where sign-in starts, so the app's site is the same in both modes). `request_header
 * -X-Authentik-*` drops whatever a client sent under those names first: Caddy 2.9 up to the fix for
 * GHSA-7r4p-vjf4-gxv4 skips a header the auth response lacks and so passed the client's own on, and
 * Caddy before 2.9 (Debian's 2.6) sets it to the literal placeholder `{http.reverse_proxy.header.…}`
 * instead (caddyserver/caddy#6610) — which is why the outpost should answer every X-authentik-* header,
 * empty when it has no value.
 */
export function caddyForwardAuth(site: ForwardAuthSite): (port: number) => string {
  return (port) => {
    const app = `http://${APP_HOST}:${port} {
  bind 127.0.0.1
  route {
    request_header -X-Authentik-*
    reverse_proxy /outpost.goauthentik.io/* ${site.outpost}
    forward_auth ${site.outpost} {
      uri /outpost.goauthentik.io/auth/caddy
      copy_headers ${IDENTITY_HEADERS.join(" ")}
      trusted_proxies private_ranges
    }
    reverse_proxy ${site.upstream}
  }
}`;
    if (site.mode === "forward_single") return app;
    return `${app}

http://${AUTH_HOST}:${port} {
  bind 127.0.0.1
  reverse_proxy ${site.outpost}
}`;
  };
}

/** Starts Caddy with the site blocks `sites(port)` builds (admin API and automatic HTTPS off). */
export async function startCaddy(sites: (port: number) => string): Promise<ReverseProxy> {
  if (!Bun.which("caddy")) throw new Error("caddy is not installed (apt-get install caddy)");
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-caddy-"));
  const port = await freePort();
  const file = join(dir, "Caddyfile");
  writeFileSync(
    file,
    `{
  admin off
  auto_https off
  storage file_system ${dir}/data
  log {
    level WARN
  }
}

${sites(port)}
`,
  );
  const logFile = join(dir, "caddy.log");
  const proc = Bun.spawn(["caddy", "run", "--adapter", "caddyfile", "--config", file], {
    cwd: dir,
    env: {
      ...process.env,
      HOME: dir,
      XDG_DATA_HOME: join(dir, "data"),
      XDG_CONFIG_HOME: join(dir, "config"),
    },
    stdin: "ignore",
    stdout: "ignore",
    stderr: Bun.file(logFile),
  });
  const log = () => readText(logFile);
  return started("caddy", proc, port, dir, async () => log(), log);
}

// -------------------------------------------------------------------------------------------- HAProxy

/**
 * HAProxy as a TCP load balancer in front of `target` (host:port): every connection is passed through
 * with a PROXY protocol header of `version` first (`send-proxy` or `send-proxy-v2`) naming the client.
 */
export async function startHaproxy(target: string, version: 1 | 2): Promise<ReverseProxy> {
  if (!Bun.which("haproxy")) throw new Error("haproxy is not installed (apt-get install haproxy)");
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-haproxy-"));
  const port = await freePort();
  const file = join(dir, "haproxy.cfg");
  writeFileSync(
    file,
    `global
  maxconn 1024
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend clients
  bind 127.0.0.1:${port}
  default_backend outpost
backend outpost
  server outpost ${target} ${version === 1 ? "send-proxy" : "send-proxy-v2"}
`,
  );
  const logFile = join(dir, "haproxy.log");
  // -db: stay in the foreground, no daemon.
  const proc = Bun.spawn(["haproxy", "-db", "-f", file], {
    cwd: dir,
    stdin: "ignore",
    stdout: Bun.file(logFile),
    stderr: Bun.file(join(dir, "haproxy.err")),
  });
  const log = () => `${readText(logFile)}${readText(join(dir, "haproxy.err"))}`;
  return started("haproxy", proc, port, dir, async () => log(), log);
}

// ------------------------------------------------------------------------------------------- running

async function started(
  kind: ReverseProxy["kind"],
  proc: Subprocess,
  port: number,
  dir: string,
  failureOutput: () => Promise<string>,
  log: () => string,
): Promise<ReverseProxy> {
  running.add(proc);
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await stopProcess(proc, STOP_TIMEOUT_MS);
      running.delete(proc);
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopping;
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await accepts(port))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      const why =
        proc.exitCode !== null ? `exited (${proc.exitCode})` : `did not listen within ${READY_TIMEOUT_MS} ms`;
      const output = await failureOutput();
      await stop();
      throw new Error(`${kind} ${why}:\n${output}`);
    }
    await Bun.sleep(25);
  }
  return {
    kind,
    url: `http://127.0.0.1:${port}`,
    port,
    pid: proc.pid,
    dir,
    hostUrl: (host) => `http://${host}:${port}`,
    log,
    stop,
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      done(true);
    });
    socket.once("error", () => done(false));
  });
}

function hostPort(url: string): string {
  return new URL(url).host;
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/**
 * nginx `auth_request` and Caddy `forward_auth` as front ends for the forward-auth tests: how to start
 * each with the README's configuration, and whether it is installed (asked when called, so importing
 * this module for nginx alone, as the benchmarks do, needs no Caddy).
 */
export function forwardAuthServers() {
  return [
    {
      kind: "nginx",
      ready: needTool("nginx", "apt-get install nginx-light"),
      start: startNginx,
      config: nginxForwardAuth,
    },
    {
      kind: "caddy",
      ready: needTool("caddy", "apt-get install caddy"),
      start: startCaddy,
      config: caddyForwardAuth,
    },
  ] as const;
}
