import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";

for (const backend of backendNames()) {
  describe(`brands on ${backend}`, () => {
    let t: TestCore;
    const current = async (host: string): Promise<Record<string, unknown>> => {
      const req = new Request(`http://${host}/api/v3/core/brands/current/`, { headers: { host } });
      return (await t.core.app.handle(req)).json() as Promise<Record<string, unknown>>;
    };

    beforeAll(async () => {
      t = await startTestCore(backend);
    });
    afterAll(() => t.stop());

    test("the default brand points at the default flows and answers for any host", async () => {
      const brand = await current("login.example.com");
      expect(brand).toMatchObject({
        matched_domain: "authentik-default",
        branding_title: "Gatehouse",
        flow_authentication: "default-authentication-flow",
        flow_invalidation: "default-invalidation-flow",
      });
      const list = await t.api("GET", "/api/v3/core/brands/");
      expect(list.body.results).toHaveLength(1);
      expect(list.body.results[0].default).toBe(true);
    });

    test("the longest matching domain suffix wins", async () => {
      const flow = await t.api("POST", "/api/v3/flows/instances/", {
        body: { slug: "acme-login", name: "a", title: "a", designation: "authentication" },
      });
      const acme = await t.api("POST", "/api/v3/core/brands/", {
        body: { domain: "acme.test", branding_title: "ACME", flow_authentication: flow.body.pk },
      });
      expect(acme.status).toBe(201);
      await t.api("POST", "/api/v3/core/brands/", {
        body: { domain: "sso.acme.test", branding_title: "ACME SSO" },
      });
      expect((await current("sso.acme.test")).branding_title).toBe("ACME SSO");
      expect((await current("www.acme.test:9000")).branding_title).toBe("ACME");
      expect((await current("www.acme.test")).flow_authentication).toBe("acme-login");
      expect((await current("other.test")).branding_title).toBe("Gatehouse");
    });

    test("one default only, known flows only, unique domains", async () => {
      const second = await t.api("POST", "/api/v3/core/brands/", {
        body: { domain: "x.test", default: true },
      });
      expect(second.status).toBe(400);
      expect(second.body).toHaveProperty("default");
      const flow = await t.api("POST", "/api/v3/core/brands/", {
        body: { domain: "y.test", flow_authentication: "00000000-0000-4000-8000-000000000000" },
      });
      expect(flow.body).toHaveProperty("flow_authentication");
      const dup = await t.api("POST", "/api/v3/core/brands/", { body: { domain: "acme.test" } });
      expect(dup.body).toHaveProperty("domain");
    });

    test("current needs no credentials; managing brands needs a superuser", async () => {
      const anonymous = await t.core.app.handle(new Request("http://localhost/api/v3/core/brands/current/"));
      expect(anonymous.status).toBe(200);
      expect((await t.api("GET", "/api/v3/core/brands/", { token: null })).status).toBe(403);
    });
  });
}
