import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";

for (const backend of backendNames()) {
  describe(`users API on ${backend}`, () => {
    let t: TestCore;
    beforeAll(async () => {
      t = await startTestCore(backend);
    });
    afterAll(() => t.stop());

    test("the bootstrap token lists akadmin, a superuser in authentik Admins", async () => {
      // A new install's other accounts are the embedded outposts' (LDAP, RADIUS, proxy) service accounts.
      const everyone = await t.api("GET", "/api/v3/core/users/");
      expect(everyone.body.results.map((u: { type: string }) => u.type).sort()).toEqual([
        "internal",
        "internal_service_account",
        "internal_service_account",
        "internal_service_account",
      ]);
      const res = await t.api("GET", "/api/v3/core/users/?type=internal");
      expect(res.status).toBe(200);
      expect(res.body.pagination).toEqual({
        next: 0,
        previous: 0,
        count: 1,
        current: 1,
        total_pages: 1,
        start_index: 1,
        end_index: 1,
      });
      const [admin] = res.body.results;
      expect(admin.username).toBe("akadmin");
      expect(admin.is_superuser).toBe(true);
      expect(admin.groups_obj.map((g: { name: string }) => g.name)).toEqual(["authentik Admins"]);
      expect(admin).not.toHaveProperty("password");
      expect(Object.keys(admin).sort()).toEqual(
        [
          "pk",
          "username",
          "name",
          "is_active",
          "last_login",
          "date_joined",
          "is_superuser",
          "groups",
          "groups_obj",
          "roles",
          "roles_obj",
          "email",
          "avatar",
          "attributes",
          "uid",
          "path",
          "type",
          "uuid",
          "password_change_date",
          "last_updated",
        ].sort(),
      );
    });

    test("no credentials and a wrong token get 403 with a detail", async () => {
      const none = await t.api("GET", "/api/v3/core/users/", { token: null });
      expect(none.status).toBe(403);
      expect(none.body.detail).toBe("Authentication credentials were not provided.");
      const wrong = await t.api("GET", "/api/v3/core/users/", { token: "nope" });
      expect(wrong.status).toBe(403);
      expect(wrong.body.detail).toMatch(/invalid or expired/);
    });

    test("create, read, filter, update and delete a user, each write leaving an event", async () => {
      const created = await t.api("POST", "/api/v3/core/users/", {
        body: { username: "jdoe", name: "Jane Doe", email: "jane@example.com", attributes: { dept: "it" } },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        username: "jdoe",
        name: "Jane Doe",
        is_active: true,
        type: "internal",
        path: "users",
        attributes: { dept: "it" },
        is_superuser: false,
        groups: [],
      });
      const pk = created.body.pk;

      const got = await t.api("GET", `/api/v3/core/users/${pk}/`);
      expect(got.body.uuid).toBe(created.body.uuid);

      const filtered = await t.api("GET", "/api/v3/core/users/?username=jdoe");
      expect(filtered.body.results.map((u: { pk: number }) => u.pk)).toEqual([pk]);
      const searched = await t.api("GET", "/api/v3/core/users/?search=JANE");
      expect(searched.body.results.map((u: { pk: number }) => u.pk)).toEqual([pk]);
      const byEmail = await t.api("GET", "/api/v3/core/users/?email=jane@example.com");
      expect(byEmail.body.pagination.count).toBe(1);

      const patched = await t.api("PATCH", `/api/v3/core/users/${pk}/`, {
        body: { name: "Jane Q. Doe", is_active: false },
      });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ name: "Jane Q. Doe", is_active: false, username: "jdoe" });
      const inactive = await t.api("GET", "/api/v3/core/users/?is_active=false");
      expect(inactive.body.results.map((u: { pk: number }) => u.pk)).toEqual([pk]);

      // PUT with the whole object as read back (read-only fields included) is accepted.
      const put = await t.api("PUT", `/api/v3/core/users/${pk}/`, { body: { ...patched.body, name: "J" } });
      expect(put.status).toBe(200);
      expect(put.body.name).toBe("J");

      const deleted = await t.api("DELETE", `/api/v3/core/users/${pk}/`);
      expect(deleted.status).toBe(204);
      expect((await t.api("GET", `/api/v3/core/users/${pk}/`)).status).toBe(404);

      const events = await t.api(
        "GET",
        `/api/v3/events/events/?context_model_pk=${pk}&context_model_name=user&ordering=created`,
      );
      expect(events.body.results.map((e: { action: string }) => e.action)).toEqual([
        "model_created",
        "model_updated",
        "model_updated",
        "model_deleted",
      ]);
      expect(events.body.results[0].user.username).toBe("akadmin");
    });

    test("paging follows pagination.next to the end", async () => {
      for (let i = 0; i < 7; i++) {
        const res = await t.api("POST", "/api/v3/core/users/", {
          body: { username: `page${i}`, name: `Page ${i}` },
        });
        expect(res.status).toBe(201);
      }
      const seen: string[] = [];
      let page = 1;
      while (page) {
        const res = await t.api(
          "GET",
          `/api/v3/core/users/?search=page&page_size=3&page=${page}&ordering=username`,
        );
        expect(res.status).toBe(200);
        seen.push(...res.body.results.map((u: { username: string }) => u.username));
        page = res.body.pagination.next;
      }
      expect(seen).toEqual(["page0", "page1", "page2", "page3", "page4", "page5", "page6"]);
      const last = await t.api("GET", "/api/v3/core/users/?search=page&page_size=3&page=3");
      expect(last.body.pagination).toMatchObject({
        previous: 2,
        next: 0,
        count: 7,
        total_pages: 3,
        start_index: 7,
        end_index: 7,
      });
      expect((await t.api("GET", "/api/v3/core/users/?search=page&page_size=3&page=4")).status).toBe(404);
      const desc = await t.api("GET", "/api/v3/core/users/?search=page&ordering=-username&page_size=2");
      expect(desc.body.results.map((u: { username: string }) => u.username)).toEqual(["page6", "page5"]);
    });

    test("bad input gets a precise 400 and writes nothing", async () => {
      const before = (await t.api("GET", "/api/v3/core/users/?page_size=1")).body.pagination.count;
      const cases: [unknown, string][] = [
        ["{not json", "detail"],
        [{ name: "No username" }, "username"],
        [{ username: "x", name: "X", is_active: "yes" }, "is_active"],
        [{ username: "x", name: "X", favourite_colour: "blue" }, "favourite_colour"],
        [{ username: "x", name: "X", email: "not-an-email" }, "email"],
        [{ username: "x", name: "X", groups: ["00000000-0000-4000-8000-000000000000"] }, "groups"],
        [{ username: "akadmin", name: "Dup" }, "username"],
        [[1, 2], "non_field_errors"],
      ];
      for (const [body, field] of cases) {
        const res = await t.api("POST", "/api/v3/core/users/", { body });
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body, JSON.stringify(body)).toHaveProperty(field);
      }
      expect((await t.api("GET", "/api/v3/core/users/?page_size=1")).body.pagination.count).toBe(before);
    });

    test("set_password stores argon2id and writes password_set", async () => {
      const user = (await t.api("POST", "/api/v3/core/users/", { body: { username: "pwuser", name: "PW" } }))
        .body;
      const res = await t.api("POST", `/api/v3/core/users/${user.pk}/set_password/`, {
        body: { password: "correct horse" },
      });
      expect(res.status).toBe(204);
      const row = await t.core.ctx.store.db
        .selectFrom("users")
        .select("password")
        .where("id", "=", user.pk)
        .executeTakeFirstOrThrow();
      expect(row.password).toStartWith("$argon2id$");
      expect(await Bun.password.verify("correct horse", row.password as string)).toBe(true);
      const events = await t.api("GET", "/api/v3/events/events/?action=password_set");
      expect(
        events.body.results.some((e: { context: { user: { pk: number } } }) => e.context.user.pk === user.pk),
      ).toBe(true);
      expect((await t.api("POST", `/api/v3/core/users/${user.pk}/set_password/`, { body: {} })).status).toBe(
        400,
      );
    });

    test("a non-superuser sees and changes only themselves", async () => {
      const user = (
        await t.api("POST", "/api/v3/core/users/", { body: { username: "plain", name: "Plain" } })
      ).body;
      const token = (
        await t.api("POST", "/api/v3/core/tokens/", {
          body: { identifier: "plain-api", intent: "api", user: user.pk, expiring: false },
        })
      ).body.key as string;
      const list = await t.api("GET", "/api/v3/core/users/", { token });
      expect(list.body.results.map((u: { username: string }) => u.username)).toEqual(["plain"]);
      expect((await t.api("GET", "/api/v3/core/users/1/", { token })).status).toBe(403);
      expect(
        (await t.api("POST", "/api/v3/core/users/", { token, body: { username: "evil", name: "E" } })).status,
      ).toBe(403);
      expect(
        (await t.api("PATCH", `/api/v3/core/users/${user.pk}/`, { token, body: { name: "Plainer" } })).status,
      ).toBe(200);
      const escalate = await t.api("PATCH", `/api/v3/core/users/${user.pk}/`, {
        token,
        body: { type: "internal", is_active: true, groups: [] },
      });
      expect(escalate.status).toBe(403);
      const me = await t.api("GET", "/api/v3/core/users/me/", { token });
      expect(me.body.user).toMatchObject({ username: "plain", name: "Plainer", is_superuser: false });
    });

    test("is_superuser is inherited from a superuser parent group and filters the list", async () => {
      const admins = await t.api("POST", "/api/v3/core/groups/", {
        body: { name: "ops-admins", is_superuser: true },
      });
      const oncall = await t.api("POST", "/api/v3/core/groups/", {
        body: { name: "ops-oncall", parents: [admins.body.pk] },
      });
      const sam = await t.api("POST", "/api/v3/core/users/", {
        body: { username: "sam", name: "Sam", groups: [oncall.body.pk] },
      });
      expect((await t.api("GET", `/api/v3/core/users/${sam.body.pk}/`)).body.is_superuser).toBe(true);
      const supers = await t.api(
        "GET",
        "/api/v3/core/users/?is_superuser=true&ordering=username&page_size=1000",
      );
      expect(supers.body.results.map((u: { username: string }) => u.username)).toEqual(["akadmin", "sam"]);
      const others = await t.api("GET", "/api/v3/core/users/?is_superuser=false&page_size=1000");
      expect(others.body.results.map((u: { username: string }) => u.username)).not.toContain("sam");
      await t.api("PATCH", `/api/v3/core/groups/${admins.body.pk}/`, { body: { is_superuser: false } });
      expect((await t.api("GET", `/api/v3/core/users/${sam.body.pk}/`)).body.is_superuser).toBe(false);
    });

    test("users/me answers for the token's user", async () => {
      const me = await t.api("GET", "/api/v3/core/users/me/");
      expect(me.status).toBe(200);
      expect(me.body.user).toMatchObject({ username: "akadmin", is_superuser: true, is_active: true });
      expect(me.body.user.groups).toEqual([{ name: "authentik Admins", pk: expect.any(String) }]);
    });

    test("service_account creates a service-account user with an app-password token and a group", async () => {
      const res = await t.api("POST", "/api/v3/core/users/service_account/", {
        body: { name: "printer", create_group: true },
      });
      expect(res.status).toBe(200);
      const { user_pk: userPk, group_pk: groupPk } = res.body;
      expect(typeof userPk).toBe("number");
      expect(typeof groupPk).toBe("string");
      expect(res.body.username).toBe("printer");
      expect(res.body.token.length).toBeGreaterThanOrEqual(43);
      const user = (await t.api("GET", `/api/v3/core/users/${userPk}/`)).body;
      expect(user).toMatchObject({ type: "service_account", path: "goauthentik.io/service-accounts" });
      expect(user.groups).toEqual([groupPk]);
      const token = await t.api("GET", "/api/v3/core/tokens/service-account-printer-password/");
      expect(token.body).toMatchObject({ intent: "app_password", user: userPk, expiring: true });
      const again = await t.api("POST", "/api/v3/core/users/service_account/", { body: { name: "printer" } });
      expect(again.status).toBe(400);
    });

    test("data survives a restart", async () => {
      await t.api("POST", "/api/v3/core/users/", { body: { username: "durable", name: "Durable" } });
      t = await t.restart();
      const res = await t.api("GET", "/api/v3/core/users/?username=durable");
      expect(res.body.results).toHaveLength(1);
      // The bootstrap ran once: still a single akadmin and admin group.
      expect((await t.api("GET", "/api/v3/core/users/?username=akadmin")).body.pagination.count).toBe(1);
    });
  });
}
