import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";

const SCOPES = "/api/v3/propertymappings/provider/scope/";
const PROVIDERS = "/api/v3/providers/oauth2/";

for (const backend of backendNames()) {
  describe(`OAuth2 providers and scope mappings on ${backend}`, () => {
    let t: TestCore;
    let auth = "";
    let logout = "";

    beforeAll(async () => {
      t = await startTestCore(backend);
      auth = (await t.api("GET", "/api/v3/flows/instances/default-authentication-flow/")).body.pk;
      logout = (await t.api("GET", "/api/v3/flows/instances/default-invalidation-flow/")).body.pk;
    });
    afterAll(() => t.stop());

    test("authentik's managed scope mappings exist after start, once, and come back as shipped", async () => {
      const list = await t.api("GET", `${SCOPES}?managed__isnull=false&page_size=50`);
      expect(list.status).toBe(200);
      const scopes = list.body.results.map((m: { scope_name: string }) => m.scope_name).sort();
      expect(scopes).toEqual(
        [
          "ak_proxy",
          "email",
          "entitlements",
          "goauthentik.io/api",
          "offline_access",
          "openid",
          "profile",
        ].sort(),
      );
      const email = list.body.results.find(
        (m: { managed: string }) => m.managed === "goauthentik.io/providers/oauth2/scope-email",
      );
      expect(email).toMatchObject({
        name: "authentik default OAuth Mapping: OpenID 'email'",
        scope_name: "email",
        meta_model_name: "authentik_providers_oauth2.scopemapping",
        component: "ak-property-mapping-provider-scope-form",
      });
      // An edited managed mapping is put back at the next start; nothing is duplicated.
      await t.api("PATCH", `${SCOPES}${email.pk}/`, { body: { expression: '{"email": "x"}' } });
      t = await t.restart();
      const again = await t.api("GET", `${SCOPES}?managed=goauthentik.io/providers/oauth2/scope-email`);
      expect(again.body.pagination.count).toBe(1);
      expect(again.body.results[0].expression).toBe(email.expression);
      expect(again.body.results[0].pk).toBe(email.pk);
    });

    test("custom scope mappings: CEL checked on save, names unique, filters, delete", async () => {
      const created = await t.api("POST", SCOPES, {
        body: {
          name: "groups claim",
          scope_name: "groups",
          expression: '{"groups": user.groups}',
          description: "Groups",
        },
      });
      expect(created.status, created.text).toBe(201);
      expect(created.body).toMatchObject({ managed: null, scope_name: "groups", description: "Groups" });
      const broken = await t.api("POST", SCOPES, {
        body: { name: "broken", scope_name: "x", expression: "{" },
      });
      expect(broken.status).toBe(400);
      expect(broken.body).toHaveProperty("expression");
      const duplicate = await t.api("POST", SCOPES, {
        body: { name: "groups claim", scope_name: "g", expression: "{}" },
      });
      expect(duplicate.body).toHaveProperty("name");
      const missing = await t.api("POST", SCOPES, { body: { name: "no scope", expression: "{}" } });
      expect(missing.status).toBe(400);
      expect(
        (await t.api("GET", `${SCOPES}?scope_name=groups`)).body.results.map((m: { name: string }) => m.name),
      ).toEqual(["groups claim"]);
      expect((await t.api("GET", `${SCOPES}?managed__isnull=true`)).body.pagination.count).toBe(1);
      // RADIUS mappings are another kind: not listed here.
      await t.api("POST", "/api/v3/propertymappings/provider/radius/", {
        body: { name: "r", expression: "{}" },
      });
      expect(
        (await t.api("GET", `${SCOPES}?search=r`)).body.results.some((m: { name: string }) => m.name === "r"),
      ).toBe(false);
      expect((await t.api("DELETE", `${SCOPES}${created.body.pk}/`)).status).toBe(204);
      expect((await t.api("GET", `${SCOPES}${created.body.pk}/`)).status).toBe(404);
    });

    test("a provider gets authentik's defaults and generated credentials", async () => {
      const res = await t.api("POST", PROVIDERS, {
        body: {
          name: "grafana",
          authorization_flow: auth,
          invalidation_flow: logout,
          redirect_uris: [
            { matching_mode: "strict", url: "https://grafana.example.test/login/generic_oauth" },
          ],
        },
      });
      expect(res.status, res.text).toBe(201);
      expect(res.body).toMatchObject({
        name: "grafana",
        client_type: "confidential",
        access_code_validity: "minutes=1",
        access_token_validity: "minutes=5",
        refresh_token_validity: "days=30",
        include_claims_in_id_token: true,
        signing_key: null,
        sub_mode: "hashed_user_id",
        issuer_mode: "per_provider",
        logout_method: "backchannel",
        property_mappings: [],
        component: "ak-provider-oauth2-form",
        meta_model_name: "authentik_providers_oauth2.oauth2provider",
        verbose_name: "OAuth2/OpenID Provider",
      });
      expect(res.body.client_id).toMatch(/^[A-Za-z0-9_-]{40}$/);
      expect(res.body.client_secret).toHaveLength(128);
      const again = await t.api("GET", `${PROVIDERS}${res.body.pk}/`);
      expect(again.body.client_secret).toBe(res.body.client_secret);
      const byClient = await t.api("GET", `${PROVIDERS}?client_id=${res.body.client_id}`);
      expect(byClient.body.results.map((p: { name: string }) => p.name)).toEqual(["grafana"]);
      expect(byClient.body.pagination.count).toBe(1);
      // A model_created event, without the secret in it.
      const events = await t.api(
        "GET",
        "/api/v3/events/events/?action=model_created&context_model_name=oauth2provider",
      );
      expect(events.body.pagination.count).toBe(1);
      expect(JSON.stringify(events.body)).not.toContain(res.body.client_secret);
    });

    test("bad settings are refused, each naming its field, and nothing is written", async () => {
      const profile = (await t.api("GET", `${SCOPES}?scope_name=profile`)).body.results[0];
      const radius = (await t.api("GET", "/api/v3/propertymappings/provider/radius/")).body.results[0];
      const cases: [Record<string, unknown>, string][] = [
        [{ access_token_validity: "an hour" }, "access_token_validity"],
        [{ refresh_token_validity: "fortnights=2" }, "refresh_token_validity"],
        [{ redirect_uris: [{ matching_mode: "regex", url: "https://(unclosed" }] }, "redirect_uris"],
        [{ redirect_uris: [{ matching_mode: "strict", url: "not a url" }] }, "redirect_uris"],
        [{ signing_key: crypto.randomUUID() }, "signing_key"],
        [{ property_mappings: [radius.pk] }, "property_mappings"],
        [{ logout_uri: "nope" }, "logout_uri"],
        [{ client_type: "secret" }, "client_type"],
      ];
      for (const [extra, field] of cases) {
        const res = await t.api("POST", PROVIDERS, {
          body: {
            name: `bad-${field}`,
            authorization_flow: auth,
            invalidation_flow: logout,
            redirect_uris: [],
            ...extra,
          },
        });
        expect(res.status, field).toBe(400);
        expect(res.body, field).toHaveProperty(field);
      }
      expect((await t.api("GET", `${PROVIDERS}?search=bad-`)).body.pagination.count).toBe(0);
      // Valid ones: a regex redirect, a signing key, scope mappings, a set client id.
      const key = (
        await t.api("POST", "/api/v3/crypto/certificatekeypairs/generate/", {
          body: { common_name: "oidc", validity_days: 30, alg: "ecdsa" },
        })
      ).body;
      const ok = await t.api("POST", PROVIDERS, {
        body: {
          name: "wiki",
          authorization_flow: auth,
          invalidation_flow: logout,
          client_type: "public",
          client_id: "wiki-client",
          signing_key: key.pk,
          property_mappings: [profile.pk],
          access_token_validity: "hours=1;minutes=30",
          redirect_uris: [{ matching_mode: "regex", url: "^https://wiki\\.example\\.test/.*$" }],
        },
      });
      expect(ok.status, ok.text).toBe(201);
      const clash = await t.api("POST", PROVIDERS, {
        body: {
          name: "wiki-2",
          authorization_flow: auth,
          invalidation_flow: logout,
          client_id: "wiki-client",
          redirect_uris: [],
        },
      });
      expect(clash.body).toHaveProperty("client_id");
    });

    test("update and delete; non-superusers are refused", async () => {
      const created = (
        await t.api("POST", PROVIDERS, {
          body: { name: "temp", authorization_flow: auth, invalidation_flow: logout, redirect_uris: [] },
        })
      ).body;
      const patched = await t.api("PATCH", `${PROVIDERS}${created.pk}/`, {
        body: { sub_mode: "user_email" },
      });
      expect(patched.status, patched.text).toBe(200);
      expect(patched.body).toMatchObject({ sub_mode: "user_email", client_id: created.client_id });
      const user = (
        await t.api("POST", "/api/v3/core/users/", { body: { username: "plain", name: "Plain" } })
      ).body;
      const token = (
        await t.api("POST", "/api/v3/core/tokens/", {
          body: { identifier: `plain-${backend}`, intent: "api", user: user.pk, expiring: false },
        })
      ).body.key;
      expect((await t.api("GET", PROVIDERS, { token })).status).toBe(403);
      expect((await t.api("GET", SCOPES, { token })).status).toBe(403);
      expect((await t.api("DELETE", `${PROVIDERS}${created.pk}/`)).status).toBe(204);
      expect((await t.api("GET", `${PROVIDERS}${created.pk}/`)).status).toBe(404);
    });
  });
}
