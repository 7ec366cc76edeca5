/**
 * What operators and their tools see of a running core: health probes, Prometheus metrics, request ids
 * and JSON logs, body limits, error bodies, secrets kept out of logs, and the API schema and page.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type CoreProcess, disposeAll, Install, PROCESS_TIMEOUT_MS } from "../support/process.ts";
import { api } from "./http.ts";

setDefaultTimeout(PROCESS_TIMEOUT_MS);
afterAll(disposeAll);

const TOKEN = "e2e-operations-token-0123456789abcdefghijkl";
const OTHER_SECRET = "e2e-not-a-valid-token-zyxwvutsrqponmlkjihg";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("operating a running core", () => {
  let install: Install;
  let core: CoreProcess;
  beforeAll(async () => {
    install = await Install.create("sqlite", {
      GATEHOUSE_BOOTSTRAP_TOKEN: TOKEN,
      GATEHOUSE_HTTP__MAX_BODY_BYTES: "2048",
      GATEHOUSE_LOG__LEVEL: "debug",
    });
    core = await install.start();
  });
  afterAll(() => install.dispose());

  /** The request's JSON log line, once the core has written it. */
  const logOf = async (requestId: string) => {
    await core.waitForLine(new RegExp(`"request_id":"${requestId}"`));
    return core.logs().find((l) => l.request_id === requestId);
  };

  test("liveness and readiness answer 204", async () => {
    for (const path of ["/-/health/live/", "/-/health/ready/"]) {
      const res = await fetch(`${core.url}${path}`);
      expect(res.status).toBe(204);
      expect(await res.text()).toBe("");
    }
  });

  test("every response carries x-request-id; a valid incoming one is echoed, an invalid one replaced", async () => {
    for (const path of ["/-/health/live/", "/api/v3/core/users/", "/no/such/page", "/metrics"]) {
      expect((await fetch(`${core.url}${path}`)).headers.get("x-request-id")).toMatch(UUID);
    }
    const echoed = await fetch(`${core.url}/api/v3/core/users/`, {
      headers: { "x-request-id": "e2e-req.0001_A", authorization: `Bearer ${TOKEN}` },
    });
    expect(echoed.headers.get("x-request-id")).toBe("e2e-req.0001_A");
    for (const invalid of ["has spaces in it", "x".repeat(65), "semi;colon", "<script>"]) {
      const res = await fetch(`${core.url}/-/health/live/`, { headers: { "x-request-id": invalid } });
      expect(res.headers.get("x-request-id")).toMatch(UUID);
    }
  });

  test("logs are JSON lines, and a request's line carries its id", async () => {
    await fetch(`${core.url}/api/v3/core/users/`, {
      headers: { "x-request-id": "e2e-log-line-1", authorization: `Bearer ${TOKEN}` },
    });
    expect(await logOf("e2e-log-line-1")).toMatchObject({
      level: "info",
      msg: "request",
      method: "GET",
      path: "/api/v3/core/users/",
      status: 200,
      client_ip: "127.0.0.1",
    });
    for (const line of core.stdout.lines.filter((l) => l.startsWith("{"))) {
      expect(JSON.parse(line)).toMatchObject({ ts: expect.any(String), level: expect.any(String) });
    }
    expect(core.stderr.text).toBe("");
  });

  test("/metrics counts requests by route template", async () => {
    await api(core, "GET", "/api/v3/core/users/", { token: TOKEN });
    await api(core, "GET", "/api/v3/core/users/1/", { token: TOKEN });
    await api(core, "GET", "/api/v3/core/users/1/", { token: TOKEN });
    const res = await fetch(`${core.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/plain");
    const text = await res.text();
    const count = (route: string, status: string) =>
      Number(
        new RegExp(
          `^gatehouse_http_requests_total\\{method="GET",route="${route}",status="${status}"\\} (\\d+)$`,
          "m",
        ).exec(text)?.[1] ?? 0,
      );
    expect(count("/api/v3/core/users/", "200")).toBeGreaterThanOrEqual(1);
    expect(count("/api/v3/core/users/:id/", "200")).toBeGreaterThanOrEqual(2);
    // Templates, not paths: no label per user id.
    expect(text).not.toContain('route="/api/v3/core/users/1/"');
    expect(text).toContain('gatehouse_store_up{kind="sqlite"} 1');
  });

  test("a body over http.max_body_bytes gets 413 with a detail, and the core keeps serving", async () => {
    const big = JSON.stringify({ username: "big", name: "x".repeat(4000) });
    const declared = await api(core, "POST", "/api/v3/core/users/", {
      token: TOKEN,
      body: big,
      headers: { "x-request-id": "e2e-too-large" },
    });
    expect(declared.status).toBe(413);
    expect(declared.body.detail).toContain("2048 bytes");
    expect(declared.headers.get("x-request-id")).toBe("e2e-too-large");
    expect(await logOf("e2e-too-large")).toMatchObject({ level: "warn", msg: "request body too large" });

    // Chunked, so the size is not declared up front.
    const chunked = await fetch(`${core.url}/api/v3/core/users/`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: new Blob([big]).stream(),
    });
    expect(chunked.status).toBe(413);
    expect(((await chunked.json()) as { detail: string }).detail).toContain("2048 bytes");

    expect((await fetch(`${core.url}/-/health/ready/`)).status).toBe(204);
    const small = await api(core, "POST", "/api/v3/core/users/", {
      token: TOKEN,
      body: { username: "small", name: "Small" },
    });
    expect(small.status).toBe(201);
    expect(core.running).toBe(true);
  });

  test("malformed JSON gets 400 with a detail", async () => {
    const res = await api(core, "POST", "/api/v3/core/users/", { token: TOKEN, body: '{"username": "x",' });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toStartWith("application/json");
    expect(res.body.detail).toStartWith("JSON parse error");
  });

  test("/api/v3/schema/ is an OpenAPI document with the users endpoints", async () => {
    const res = await api(core, "GET", "/api/v3/schema/");
    expect(res.status).toBe(200);
    expect(res.body.openapi).toStartWith("3.");
    expect(Object.keys(res.body.paths)).toContain("/api/v3/core/users/");
    expect(res.body.paths["/api/v3/core/users/"].get.operationId).toBe("core_users_list");
  });

  test("/api/v3/docs is an HTML page whose scripts and styles come from the core itself", async () => {
    const res = await fetch(`${core.url}/api/v3/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/html");
    const html = await res.text();
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//i);
    const assets = [...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*\shref)=["']([^"']+)["']/g)].map(
      (m) => m[1] ?? "",
    );
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const asset of assets) {
      const file = await fetch(new URL(asset, res.url));
      expect(file.status).toBe(200);
      expect((await file.arrayBuffer()).byteLength).toBeGreaterThan(50);
    }
  });

  // Swagger UI must be pointed at the absolute schema path (a relative one resolved under /api/v3/docs).
  test("/api/v3/docs points Swagger UI at the schema", async () => {
    const html = await (await fetch(`${core.url}/api/v3/docs`)).text();
    const specUrl = /"url":"([^"]+)"/.exec(html)?.[1] ?? "";
    expect((await fetch(new URL(specUrl, `${core.url}/api/v3/docs`))).status).toBe(200);
  });

  // Handlers that return a Response (404, 204) set the status there, not in set.status.
  test("/metrics labels a 404 with status 404", async () => {
    await fetch(`${core.url}/no/such/page`);
    const text = await (await fetch(`${core.url}/metrics`)).text();
    expect(text).toMatch(/^gatehouse_http_requests_total\{method="GET",route="[^"]*",status="404"\} \d+$/m);
  });

  test("secrets never reach the logs: the bootstrap token and Authorization header values", async () => {
    const wrong = await api(core, "GET", "/api/v3/core/users/", { token: OTHER_SECRET });
    expect(wrong.status).toBe(403);
    await api(core, "GET", "/api/v3/core/users/", {
      headers: { authorization: `Basic ${btoa(`u:${OTHER_SECRET}`)}` },
    });
    const ok = await api(core, "GET", "/api/v3/core/users/me/", {
      token: TOKEN,
      headers: { "x-request-id": "e2e-last" },
    });
    expect(ok.status).toBe(200);
    await logOf("e2e-last");
    for (const secret of [TOKEN, OTHER_SECRET, btoa(`u:${OTHER_SECRET}`)]) {
      expect(core.output).not.toContain(secret);
    }
  });
});
