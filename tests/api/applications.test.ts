import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";

for (const backend of backendNames()) {
  describe(`applications on ${backend}`, () => {
    let t: TestCore;
    let zoe = { pk: 0 };
    let zoeKey = "";
    const post = async (path: string, body: unknown) => {
      const res = await t.api("POST", path, { body });
      expect(res.status, `${path}: ${res.text}`).toBe(201);
      return res.body;
    };
    const slugs = (res: { body: { results: { slug: string }[] } }) => res.body.results.map((a) => a.slug);

    beforeAll(async () => {
      t = await startTestCore(backend);
      zoe = await post("/api/v3/core/users/", { username: "zoe", name: "Zoe" });
      zoeKey = (
        await post("/api/v3/core/tokens/", {
          identifier: "zoe-api",
          intent: "api",
          user: zoe.pk,
          expiring: false,
        })
      ).key;
    });
    afterAll(() => t.stop());

    test("an application bound to a group is hidden from, and refused to, users outside the group", async () => {
      const wiki = await post("/api/v3/core/applications/", {
        name: "Wiki",
        slug: "wiki",
        meta_launch_url: "https://wiki.example.test/",
      });
      expect(wiki).toMatchObject({
        slug: "wiki",
        provider: null,
        launch_url: "https://wiki.example.test/",
        policy_engine_mode: "any",
      });
      await post("/api/v3/core/applications/", { name: "Payroll", slug: "payroll" });
      expect(slugs(await t.api("GET", "/api/v3/core/applications/", { token: zoeKey }))).toEqual([
        "payroll",
        "wiki",
      ]);

      const finance = await post("/api/v3/core/groups/", { name: "finance" });
      const payroll = (await t.api("GET", "/api/v3/core/applications/payroll/")).body;
      await post("/api/v3/policies/bindings/", { target: payroll.pk, group: finance.pk, order: 0 });
      expect(slugs(await t.api("GET", "/api/v3/core/applications/", { token: zoeKey }))).toEqual(["wiki"]);
      expect((await t.api("GET", "/api/v3/core/applications/payroll/", { token: zoeKey })).status).toBe(404);
      const denied = await t.api("GET", `/api/v3/core/applications/payroll/check_access/?for_user=${zoe.pk}`);
      expect(denied.body.passing).toBe(false);
      expect(
        (await t.api("GET", "/api/v3/core/applications/payroll/check_access/", { token: zoeKey })).body
          .passing,
      ).toBe(false);
      expect(
        (await t.api("GET", "/api/v3/core/applications/payroll/check_access/?for_user=1", { token: zoeKey }))
          .status,
      ).toBe(403);

      await t.api("POST", `/api/v3/core/groups/${finance.pk}/add_user/`, { body: { pk: zoe.pk } });
      expect(slugs(await t.api("GET", "/api/v3/core/applications/", { token: zoeKey }))).toEqual([
        "payroll",
        "wiki",
      ]);
      expect(
        (await t.api("GET", "/api/v3/core/applications/payroll/check_access/", { token: zoeKey })).body
          .passing,
      ).toBe(true);

      // A superuser's list is also their own unless they ask for everything.
      expect(slugs(await t.api("GET", "/api/v3/core/applications/"))).toEqual(["wiki"]);
      expect(slugs(await t.api("GET", "/api/v3/core/applications/?superuser_full_list=true"))).toEqual([
        "payroll",
        "wiki",
      ]);
      expect(
        (await t.api("POST", "/api/v3/core/applications/", { token: zoeKey, body: { name: "x", slug: "x" } }))
          .status,
      ).toBe(403);
    });

    test("bad input: unknown provider, taken slug, a launch URL that is not http(s)", async () => {
      expect(
        (
          await t.api("POST", "/api/v3/core/applications/", {
            body: { name: "A", slug: "a", provider: 4242 },
          })
        ).body,
      ).toHaveProperty("provider");
      expect(
        (await t.api("POST", "/api/v3/core/applications/", { body: { name: "W", slug: "wiki" } })).body,
      ).toHaveProperty("slug");
      const js = await t.api("POST", "/api/v3/core/applications/", {
        body: { name: "J", slug: "j", meta_launch_url: "javascript:alert(1)" },
      });
      expect(js.status).toBe(400);
      expect(js.body).toHaveProperty("meta_launch_url");
    });

    test("deleting an application removes its policy bindings", async () => {
      const app = await post("/api/v3/core/applications/", { name: "Tmp", slug: "tmp" });
      await post("/api/v3/policies/bindings/", { target: app.pk, user: zoe.pk, order: 0 });
      expect((await t.api("DELETE", "/api/v3/core/applications/tmp/")).status).toBe(204);
      expect((await t.api("GET", `/api/v3/policies/bindings/?target=${app.pk}`)).body.pagination.count).toBe(
        0,
      );
    });
  });
}
