import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { hasPermission } from "../../core/src/rbac/service.ts";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";

const SEARCH = "authentik_providers_ldap.search_full_directory";
const LDAP_MODEL = "authentik_providers_ldap.ldapprovider";

for (const backend of backendNames()) {
  describe(`roles and permissions on ${backend}`, () => {
    let t: TestCore;
    const post = async (path: string, body: unknown) => {
      const res = await t.api("POST", path, { body });
      expect(res.status, `${path}: ${res.text}`).toBe(201);
      return res.body;
    };
    beforeAll(async () => {
      t = await startTestCore(backend);
    });
    afterAll(() => t.stop());

    test("roles reach users directly and through groups (inherited too); permissions are global or per object", async () => {
      const readers = await post("/api/v3/rbac/roles/", { name: "directory-readers" });
      const wren = await post("/api/v3/core/users/", { username: "wren", name: "Wren" });
      const xia = await post("/api/v3/core/users/", { username: "xia", name: "Xia" });
      const db = t.core.ctx.store.db;

      expect(
        (await t.api("POST", `/api/v3/rbac/roles/${readers.pk}/add_user/`, { body: { pk: wren.pk } })).status,
      ).toBe(204);
      const got = await t.api("GET", `/api/v3/core/users/${wren.pk}/`);
      expect(got.body.roles).toEqual([readers.pk]);
      expect(got.body.roles_obj).toEqual([{ pk: readers.pk, name: "directory-readers" }]);

      const assigned = await t.api(
        "POST",
        `/api/v3/rbac/permissions/assigned_by_roles/${readers.pk}/assign/`,
        {
          body: { permissions: [SEARCH], model: LDAP_MODEL, object_pk: "7" },
        },
      );
      expect(assigned.status).toBe(200);
      expect(assigned.body).toHaveLength(1);
      expect(await hasPermission(db, wren.pk, SEARCH, "7")).toBe(true);
      expect(await hasPermission(db, wren.pk, SEARCH, "8")).toBe(false);
      expect(await hasPermission(db, xia.pk, SEARCH, "7")).toBe(false);
      // Superusers hold every permission.
      expect(await hasPermission(db, 1, SEARCH, "8")).toBe(true);

      // Through a group's parent: the role sits on "staff", Xia is in its child "interns".
      const staff = await post("/api/v3/core/groups/", { name: "staff", roles: [readers.pk] });
      await post("/api/v3/core/groups/", { name: "interns", parents: [staff.pk], users: [xia.pk] });
      expect(
        (await t.api("GET", `/api/v3/core/groups/${staff.pk}/`)).body.roles_obj.map(
          (r: { name: string }) => r.name,
        ),
      ).toEqual(["directory-readers"]);
      expect(await hasPermission(db, xia.pk, SEARCH, "7")).toBe(true);

      const listed = await t.api(
        "GET",
        `/api/v3/rbac/permissions/assigned_by_roles/?model=${LDAP_MODEL}&object_pk=7`,
      );
      expect(listed.body.results[0]).toMatchObject({ role_pk: readers.pk, name: "directory-readers" });
      expect(listed.body.results[0].object_permissions[0].codename).toBe("search_full_directory");

      expect(
        (
          await t.api("PATCH", `/api/v3/rbac/permissions/assigned_by_roles/${readers.pk}/unassign/`, {
            body: { permissions: [SEARCH], model: LDAP_MODEL, object_pk: "7" },
          })
        ).status,
      ).toBe(204);
      expect(await hasPermission(db, wren.pk, SEARCH, "7")).toBe(false);

      // A global assignment covers every object.
      await t.api("POST", `/api/v3/rbac/permissions/assigned_by_roles/${readers.pk}/assign/`, {
        body: { permissions: [SEARCH] },
      });
      expect(await hasPermission(db, wren.pk, SEARCH, "99")).toBe(true);
      expect(
        (await t.api("POST", `/api/v3/rbac/roles/${readers.pk}/remove_user/`, { body: { pk: wren.pk } }))
          .status,
      ).toBe(204);
      expect(await hasPermission(db, wren.pk, SEARCH, "99")).toBe(false);
    });

    test("bad role input is refused", async () => {
      const unknown = await t.api("POST", "/api/v3/core/users/", {
        body: { username: "yuri", name: "Yuri", roles: ["00000000-0000-4000-8000-000000000000"] },
      });
      expect(unknown.status).toBe(400);
      expect(unknown.body).toHaveProperty("roles");
      const role = await post("/api/v3/rbac/roles/", { name: "auditors" });
      const badPerm = await t.api("POST", `/api/v3/rbac/permissions/assigned_by_roles/${role.pk}/assign/`, {
        body: { permissions: ["not a permission"] },
      });
      expect(badPerm.status).toBe(400);
      const half = await t.api("POST", `/api/v3/rbac/permissions/assigned_by_roles/${role.pk}/assign/`, {
        body: { permissions: [SEARCH], object_pk: "1" },
      });
      expect(half.status).toBe(400);
      expect((await t.api("POST", "/api/v3/rbac/roles/", { body: { name: "auditors" } })).status).toBe(400);
    });
  });
}
