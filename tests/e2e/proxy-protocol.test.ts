/**
 * The compiled proxy outpost behind HAProxy passing TCP through with a PROXY protocol header (v1 and
 * v2), as a load balancer in front of an outpost does: the client connects from 127.0.0.2 (curl
 * --interface), HAProxy from 127.0.0.1, and the upstream must see the client's address in
 * X-Forwarded-For — for a request the outpost's front answers itself and for one it pipes (a POST).
 * An outpost that does not trust 127.0.0.1 must not read the header at all.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { freePort, PROCESS_TIMEOUT_MS } from "../support/process.ts";
import { type OutpostProcess, ProxyFixture } from "../support/proxy-outpost.ts";
import { type ReverseProxy, startHaproxy } from "../support/reverse-proxies.ts";
import { needTool, run } from "../support/tools.ts";
import { type SeenRequest, startUpstream, type Upstream } from "../support/upstream.ts";

const CLIENT = "127.0.0.2";
const ready = needTool("haproxy", "apt-get install haproxy") && needTool("curl", "apt-get install curl");

let fx: ProxyFixture;
let upstream: Upstream;
/** The provider's external host, sent as Host through every balancer. */
let appHost = "";
/** Trusts loopback (the default networks); `strict` trusts only 10.0.0.0/8. */
let trusting: OutpostProcess;
let strict: OutpostProcess;
const balancers: ReverseProxy[] = [];
let v1: ReverseProxy;
let v2: ReverseProxy;
let untrusted: ReverseProxy;

beforeAll(async () => {
  if (!ready) return;
  fx = await ProxyFixture.start();
  upstream = await startUpstream();
  const port = await freePort();
  appHost = `127.0.0.1:${port}`;
  // The app's /headers is allow-listed: no sign-in needed to see what reaches the upstream.
  const app = await fx.provider("app", {
    mode: "proxy",
    external_host: `http://${appHost}`,
    internal_host: upstream.url,
    skip_path_regex: "^/headers",
  });
  await fx.serve([app.pk]);
  trusting = await fx.startOutpost(port);
  strict = await fx.startOutpost(undefined, { GATEHOUSE_LISTEN__TRUSTED_PROXY_CIDRS: "10.0.0.0/8" });
  v1 = await startHaproxy(`127.0.0.1:${trusting.port}`, 1);
  v2 = await startHaproxy(`127.0.0.1:${trusting.port}`, 2);
  untrusted = await startHaproxy(`127.0.0.1:${strict.port}`, 1);
  balancers.push(v1, v2, untrusted);
}, 120_000);

afterAll(async () => {
  await Promise.all(balancers.map((b) => b.stop()));
  await fx?.stop();
  await upstream?.stop();
}, PROCESS_TIMEOUT_MS);

/** curl from 127.0.0.2 to `port`: the status and the body. */
async function curl(
  port: number,
  path: string,
  ...args: string[]
): Promise<{ status: number; body: string }> {
  const out = await run([
    "curl",
    "-sS",
    "--interface",
    CLIENT,
    "-H",
    `Host: ${appHost}`,
    "-w",
    "\n%{http_code}",
    ...args,
    `http://127.0.0.1:${port}${path}`,
  ]);
  expect(out.code, out.stderr).toBe(0);
  const at = out.stdout.lastIndexOf("\n");
  return { status: Number(out.stdout.slice(at + 1)), body: out.stdout.slice(0, at) };
}

const forwardedFor = (body: string) => (JSON.parse(body) as SeenRequest).headers["x-forwarded-for"];

describe.skipIf(!ready)("the proxy outpost behind HAProxy's PROXY protocol", () => {
  test("v1 and v2 headers give the upstream the client's address, for GETs and piped POSTs", async () => {
    for (const balancer of [v1, v2]) {
      const got = await curl(balancer.port, "/headers?via=haproxy");
      expect(got.status, `${balancer.port}: ${got.body}`).toBe(200);
      expect(forwardedFor(got.body)).toBe(CLIENT);
      const posted = await curl(balancer.port, "/headers", "--data", "a body");
      expect(posted.status, posted.body).toBe(200);
      expect((JSON.parse(posted.body) as SeenRequest).method).toBe("POST");
      expect(forwardedFor(posted.body)).toBe(CLIENT);
    }
  });

  test("a connection without a header keeps its own address", async () => {
    const direct = await curl(trusting.port, "/headers");
    expect(direct.status, direct.body).toBe(200);
    expect(forwardedFor(direct.body)).toBe(CLIENT);
  });

  test("an outpost that does not trust the balancer does not read its header", async () => {
    const refused = await curl(untrusted.port, "/headers");
    expect(refused.status).toBe(400);
    // Without the balancer in between, the same outpost serves as usual.
    const direct = await curl(strict.port, "/headers");
    expect(forwardedFor(direct.body)).toBe(CLIENT);
  });

  test("a malformed header from a trusted peer ends that connection, logged; the outpost serves on", async () => {
    const socket = connect({ host: "127.0.0.1", port: trusting.port });
    let received = "";
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1");
    });
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.write(
      `PROXY TCP4 203.0.113.999 192.0.2.1 1 2\r\nGET /headers HTTP/1.1\r\nHost: ${appHost}\r\n\r\n`,
    );
    await closed;
    expect(received).toBe("");
    expect(trusting.output()).toContain("PX0008ProxyHeaderInvalid");
    const after = await curl(v1.port, "/headers");
    expect(forwardedFor(after.body)).toBe(CLIENT);
  });
});
