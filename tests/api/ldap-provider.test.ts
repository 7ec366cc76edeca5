import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";

for (const backend of backendNames()) {
  describe(`LDAP provider and what an LDAP outpost reads, on ${backend}`, () => {
    let t: TestCore;
    let provider: { pk: number };
    let outpostKey = "";
    const post = async (path: string, body: unknown) => {
      const res = await t.api("POST", path, { body });
      expect(res.status, `${path}: ${res.text}`).toBe(201);
      return res.body;
    };

    beforeAll(async () => {
      t = await startTestCore(backend);
      const auth = (await t.api("GET", "/api/v3/flows/instances/default-authentication-flow/")).body.pk;
      const logout = (await t.api("GET", "/api/v3/flows/instances/default-invalidation-flow/")).body.pk;
      provider = await post("/api/v3/providers/ldap/", {
        name: "directory",
        authorization_flow: auth,
        invalidation_flow: logout,
      });
      await post("/api/v3/core/applications/", {
        name: "Directory",
        slug: "directory",
        provider: provider.pk,
      });
      const outpost = await post("/api/v3/outposts/instances/", {
        name: "ldap-edge",
        type: "ldap",
        providers: [provider.pk],
        config: {},
      });
      outpostKey = (await t.api("GET", `/api/v3/core/tokens/${outpost.token_identifier}/view_key/`)).body.key;
      const ann = await post("/api/v3/core/users/", {
        username: "ann",
        name: "Ann",
        email: "ann@example.test",
      });
      await t.api("POST", `/api/v3/core/users/${ann.pk}/set_password/`, {
        body: { password: "ann-password-1" },
      });
    });
    afterAll(() => t.stop());

    test("the provider has authentik's defaults and a base DN of its own", async () => {
      const got = (await t.api("GET", `/api/v3/providers/ldap/${provider.pk}/`)).body;
      expect(got).toMatchObject({
        base_dn: "DC=ldap,DC=goauthentik,DC=io",
        uid_start_number: 2000,
        gid_start_number: 4000,
        search_mode: "direct",
        bind_mode: "direct",
        mfa_support: true,
        assigned_application_slug: "directory",
        meta_model_name: "authentik_providers_ldap.ldapprovider",
        outpost_set: ["ldap-edge"],
      });
      const auth = (await t.api("GET", "/api/v3/flows/instances/default-authentication-flow/")).body.pk;
      const clash = await t.api("POST", "/api/v3/providers/ldap/", {
        body: {
          name: "second",
          authorization_flow: auth,
          invalidation_flow: auth,
          base_dn: "dc=ldap,dc=goauthentik,dc=io",
        },
      });
      expect(clash.status).toBe(400);
      expect(clash.body).toHaveProperty("base_dn");
    });

    test("the outpost's token reads its providers, the users and the groups", async () => {
      const mine = await t.api("GET", "/api/v3/outposts/ldap/", { token: outpostKey });
      expect(mine.body.results).toEqual([
        expect.objectContaining({
          pk: provider.pk,
          bind_flow_slug: "default-authentication-flow",
          unbind_flow_slug: "default-invalidation-flow",
          application_slug: "directory",
          base_dn: "DC=ldap,DC=goauthentik,DC=io",
        }),
      ]);
      const users = await t.api("GET", "/api/v3/core/users/?page_size=100", { token: outpostKey });
      expect(users.body.results.map((u: { username: string }) => u.username)).toContain("ann");
      expect(
        (await t.api("GET", "/api/v3/core/groups/", { token: outpostKey })).body.pagination.count,
      ).toBeGreaterThanOrEqual(1);
    });

    test("check_access, with the bound user's session: application policies and the search permission", async () => {
      const outpostUser = { "x-authentik-outpost-token": outpostKey, "x-authentik-remote-ip": "192.0.2.50" };
      const bind = new FlowClient((r) => t.core.app.handle(r), { headers: outpostUser });
      expect(
        (
          await bind.login(
            "default-authentication-flow",
            "ann",
            "ann-password-1",
            "goauthentik.io/outpost/ldap=true",
          )
        ).component,
      ).toBe("xak-flow-redirect");
      const asAnn = () =>
        t.api("GET", `/api/v3/outposts/ldap/${provider.pk}/check_access/?app_slug=directory`, {
          token: null,
          headers: { cookie: `authentik_session=${bind.cookie}` },
        });
      expect((await asAnn()).body).toEqual({
        has_search_permission: false,
        access: { passing: true, messages: [], log_messages: [] },
      });

      const searchers = await post("/api/v3/rbac/roles/", { name: "ldap-searchers" });
      await t.api("POST", `/api/v3/rbac/permissions/assigned_by_roles/${searchers.pk}/assign/`, {
        body: {
          permissions: ["authentik_providers_ldap.search_full_directory"],
          model: "authentik_providers_ldap.ldapprovider",
          object_pk: String(provider.pk),
        },
      });
      const ann = (await t.api("GET", "/api/v3/core/users/?username=ann")).body.results[0];
      await t.api("POST", `/api/v3/rbac/roles/${searchers.pk}/add_user/`, { body: { pk: ann.pk } });
      expect((await asAnn()).body.has_search_permission).toBe(true);

      const admins = (await t.api("GET", "/api/v3/core/groups/?name=authentik%20Admins")).body.results[0];
      const app = (await t.api("GET", "/api/v3/core/applications/directory/")).body;
      await post("/api/v3/policies/bindings/", { target: app.pk, group: admins.pk, order: 0 });
      expect((await asAnn()).body.access.passing).toBe(false);
      const unknown = await t.api("GET", `/api/v3/outposts/ldap/${provider.pk}/check_access/?app_slug=nope`, {
        token: null,
        headers: { cookie: `authentik_session=${bind.cookie}` },
      });
      expect(unknown.status).toBe(404);
    });
  });
}
