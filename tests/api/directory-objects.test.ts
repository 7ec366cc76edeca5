import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { housekeeping } from "../../core/src/worker.ts";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";

for (const backend of backendNames()) {
  describe(`groups, tokens and events on ${backend}`, () => {
    let t: TestCore;
    let now = new Date();
    const post = async (path: string, body: unknown) => {
      const res = await t.api("POST", path, { body });
      expect(res.status, `${path}: ${res.text}`).toBe(201);
      return res.body;
    };

    beforeAll(async () => {
      t = await startTestCore(backend, { "events.retention_days": 30 }, () => new Date(now));
    });
    afterAll(() => t.stop());

    test("groups: several parents, children, members, filters, and no cycles", async () => {
      const staff = await post("/api/v3/core/groups/", { name: "staff", attributes: { floor: 2 } });
      const eng = await post("/api/v3/core/groups/", { name: "engineering" });
      const sre = await post("/api/v3/core/groups/", { name: "sre", parents: [staff.pk, eng.pk] });
      expect(typeof sre.num_pk).toBe("number");
      expect(sre.parents.sort()).toEqual([staff.pk, eng.pk].sort());
      const withChildren = await t.api("GET", `/api/v3/core/groups/${staff.pk}/?include_children=true`);
      expect(withChildren.body.children).toEqual([sre.pk]);
      expect(withChildren.body.children_obj[0].name).toBe("sre");

      const uma = (await t.api("POST", "/api/v3/core/users/", { body: { username: "uma", name: "Uma" } }))
        .body;
      expect(
        (await t.api("POST", `/api/v3/core/groups/${sre.pk}/add_user/`, { body: { pk: uma.pk } })).status,
      ).toBe(204);
      expect(
        (await t.api("POST", `/api/v3/core/groups/${sre.pk}/add_user/`, { body: { pk: uma.pk } })).status,
      ).toBe(204);
      expect(
        (await t.api("POST", `/api/v3/core/groups/${sre.pk}/add_user/`, { body: { pk: 999999 } })).status,
      ).toBe(404);
      const byMember = await t.api("GET", "/api/v3/core/groups/?members_by_username=uma");
      expect(byMember.body.results.map((g: { name: string }) => g.name)).toEqual(["sre"]);
      expect((await t.api("GET", `/api/v3/core/groups/?members_by_pk=${uma.pk}`)).body.pagination.count).toBe(
        1,
      );
      const noUsers = await t.api("GET", `/api/v3/core/groups/${sre.pk}/?include_users=false`);
      expect(noUsers.body.users).toEqual([uma.pk]);
      expect(noUsers.body.users_obj).toBeNull();

      // A group cannot sit under itself or under its own descendants.
      const self = await t.api("PATCH", `/api/v3/core/groups/${sre.pk}/`, { body: { parents: [sre.pk] } });
      expect(self.status).toBe(400);
      const loop = await t.api("PATCH", `/api/v3/core/groups/${staff.pk}/`, { body: { parents: [sre.pk] } });
      expect(loop.status).toBe(400);
      expect(loop.body.parents[0]).toMatch(/cycle/);
      expect((await t.api("GET", `/api/v3/core/groups/${staff.pk}/`)).body.parents).toEqual([]);

      const dup = await t.api("POST", "/api/v3/core/groups/", { body: { name: "staff" } });
      expect(dup.status).toBe(400);
      expect(dup.body).toHaveProperty("name");

      expect(
        (await t.api("POST", `/api/v3/core/groups/${sre.pk}/remove_user/`, { body: { pk: uma.pk } })).status,
      ).toBe(204);
      expect((await t.api("DELETE", `/api/v3/core/groups/${eng.pk}/`)).status).toBe(204);
      expect((await t.api("GET", `/api/v3/core/groups/${sre.pk}/`)).body.parents).toEqual([staff.pk]);
      const events = await t.api(
        "GET",
        `/api/v3/events/events/?context_model_name=group&context_model_pk=${eng.pk}`,
      );
      expect(events.body.results.map((e: { action: string }) => e.action).sort()).toEqual([
        "model_created",
        "model_deleted",
      ]);
    });

    test("tokens: key shown once, stored hashed, expiry enforced, and owners see only their own", async () => {
      const vic = (await t.api("POST", "/api/v3/core/users/", { body: { username: "vic", name: "Vic" } }))
        .body;
      const own = await post("/api/v3/core/tokens/", {
        identifier: "vic-api",
        intent: "api",
        user: vic.pk,
        expiring: false,
      });
      expect(own.key.length).toBeGreaterThanOrEqual(43);
      expect(own.user_obj.username).toBe("vic");
      const rows = await sql<
        Record<string, unknown>
      >`select * from tokens where identifier = 'vic-api'`.execute(t.core.ctx.store.db);
      expect(JSON.stringify(rows.rows)).not.toContain(own.key);

      const viewed = await t.api("GET", "/api/v3/core/tokens/vic-api/view_key/", { token: own.key });
      expect(viewed.body.key).toBe(own.key);
      const secretView = await t.api("GET", "/api/v3/events/events/?action=secret_view&username=vic");
      expect(secretView.body.pagination.count).toBe(1);

      const defaulted = await post("/api/v3/core/tokens/", { identifier: "short-lived", intent: "api" });
      const minutes = (Date.parse(defaulted.expires) - now.getTime()) / 60_000;
      expect(defaulted.expiring).toBe(true);
      expect(minutes).toBeGreaterThan(29);
      expect(minutes).toBeLessThanOrEqual(30);

      const old = await post("/api/v3/core/tokens/", {
        identifier: "vic-expired",
        intent: "api",
        user: vic.pk,
        expiring: true,
        expires: new Date(now.getTime() - 60_000).toISOString(),
      });
      expect((await t.api("GET", "/api/v3/core/users/me/", { token: old.key })).status).toBe(403);
      expect((await t.api("GET", "/api/v3/core/tokens/vic-expired/view_key/")).status).toBe(404);
      const app = await post("/api/v3/core/tokens/", {
        identifier: "vic-app",
        intent: "app_password",
        user: vic.pk,
        expiring: false,
      });
      expect((await t.api("GET", "/api/v3/core/users/me/", { token: app.key })).status).toBe(403);

      const listed = await t.api("GET", "/api/v3/core/tokens/", { token: own.key });
      expect(listed.body.results.map((x: { identifier: string }) => x.identifier).sort()).toEqual([
        "vic-api",
        "vic-app",
        "vic-expired",
      ]);
      expect((await t.api("GET", "/api/v3/core/tokens/short-lived/", { token: own.key })).status).toBe(404);
      expect(
        (
          await t.api("POST", "/api/v3/core/tokens/", {
            token: own.key,
            body: { identifier: "steal", user: 1 },
          })
        ).status,
      ).toBe(403);
      expect((await t.api("GET", "/api/v3/core/tokens/?user__username=vic")).body.pagination.count).toBe(3);
      const bad = await t.api("POST", "/api/v3/core/tokens/", { body: { identifier: "has spaces" } });
      expect(bad.status).toBe(400);
      expect(bad.body).toHaveProperty("identifier");

      expect(
        (
          await t.api("POST", "/api/v3/core/tokens/vic-api/set_key/", {
            body: { key: "a-new-key-chosen-by-admin-0123456789" },
          })
        ).status,
      ).toBe(204);
      expect((await t.api("GET", "/api/v3/core/users/me/", { token: own.key })).status).toBe(403);
      expect(
        (await t.api("GET", "/api/v3/core/users/me/", { token: "a-new-key-chosen-by-admin-0123456789" }))
          .status,
      ).toBe(200);
      expect((await t.api("DELETE", "/api/v3/core/tokens/vic-api/")).status).toBe(204);
      expect(
        (await t.api("GET", "/api/v3/core/users/me/", { token: "a-new-key-chosen-by-admin-0123456789" }))
          .status,
      ).toBe(403);
    });

    test("events: newest first, filters, custom events, retention", async () => {
      const custom = await post("/api/v3/events/events/", {
        action: "custom_audit",
        app: "scripts",
        context: { note: "hello" },
      });
      expect(custom).toMatchObject({ action: "custom_audit", app: "scripts", context: { note: "hello" } });
      expect(Date.parse(custom.expires) - Date.parse(custom.created)).toBe(30 * 86_400_000);
      const unknown = await t.api("POST", "/api/v3/events/events/", {
        body: { action: "made_up", app: "x" },
      });
      expect(unknown.status).toBe(400);
      const list = await t.api("GET", "/api/v3/events/events/?page_size=5");
      const created = list.body.results.map((e: { created: string }) => e.created);
      expect([...created].sort().reverse()).toEqual(created);
      const both = await t.api("GET", "/api/v3/events/events/?actions=custom_audit&actions=secret_view");
      expect(new Set(both.body.results.map((e: { action: string }) => e.action))).toEqual(
        new Set(["custom_audit", "secret_view"]),
      );
      expect((await t.api("GET", "/api/v3/events/events/?search=hello")).body.pagination.count).toBe(1);
      expect((await t.api("GET", `/api/v3/events/events/${custom.pk}/`)).body.pk).toBe(custom.pk);
      expect((await t.api("GET", "/api/v3/events/events/not-a-uuid/")).status).toBe(404);

      const total = (await t.api("GET", "/api/v3/events/events/?page_size=1")).body.pagination.count;
      now = new Date(now.getTime() + 31 * 86_400_000);
      const swept = await housekeeping(t.core.ctx);
      expect(swept.events).toBe(total);
      now = new Date(now.getTime() - 31 * 86_400_000);
    });

    test("an unexpected failure is a generic 500 with a system_exception event, and the core keeps serving", async () => {
      // A table only the prompts list needs vanishes underneath the running core.
      await sql`drop table prompts`.execute(t.core.ctx.store.db);
      const res = await t.api("GET", "/api/v3/stages/prompt/prompts/");
      expect(res.status).toBe(500);
      expect(res.body.detail).toMatch(/internal error/);
      expect(res.text).not.toMatch(/prompts|select|stack/i);
      const rows = await t.core.ctx.store.db
        .selectFrom("events")
        .select("action")
        .where("action", "=", "system_exception")
        .execute();
      expect(rows.length).toBeGreaterThanOrEqual(1);
      expect((await t.api("GET", "/api/v3/core/users/me/")).status).toBe(200);
    });
  });
}
