import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";

const PROXY = "/api/v3/providers/proxy/";

for (const backend of backendNames()) {
  describe(`proxy providers on ${backend}`, () => {
    let t: TestCore;
    let flows: { authorization_flow: string; invalidation_flow: string };

    beforeAll(async () => {
      t = await startTestCore(backend);
      const pk = async (slug: string) => (await t.api("GET", `/api/v3/flows/instances/${slug}/`)).body.pk;
      flows = {
        authorization_flow: await pk("default-provider-authorization-implicit-consent"),
        invalidation_flow: await pk("default-invalidation-flow"),
      };
    });
    afterAll(() => t.stop());

    test("created with authentik's defaults; its OAuth2 client is maintained, its secrets never shown", async () => {
      const created = await t.api("POST", PROXY, {
        body: {
          name: "grafana",
          external_host: "https://grafana.example.test/",
          internal_host: "http://10.0.0.5:3000",
          ...flows,
        },
      });
      expect(created.status, created.text).toBe(201);
      expect(created.body).toMatchObject({
        name: "grafana",
        mode: "proxy",
        internal_host_ssl_validation: true,
        intercept_header_auth: true,
        basic_auth_enabled: false,
        cookie_domain: "",
        skip_path_regex: "",
        access_token_validity: "hours=24",
        component: "ak-provider-proxy-form",
        meta_model_name: "authentik_providers_proxy.proxyprovider",
        outpost_set: [],
        redirect_uris: [
          {
            matching_mode: "strict",
            url: "https://grafana.example.test/outpost.goauthentik.io/callback?X-authentik-auth-callback=true",
          },
          { matching_mode: "strict", url: "https://grafana.example.test?X-authentik-auth-callback=true" },
        ],
      });
      expect(created.body.client_id).toHaveLength(40);
      for (const secret of ["client_secret", "cookie_secret", "signing_key"])
        expect(created.body).not.toHaveProperty(secret);
      const managed = (
        await t.api("GET", "/api/v3/propertymappings/provider/scope/?managed__isnull=false&page_size=50")
      ).body.results as { pk: string; scope_name: string }[];
      const scopes = managed
        .filter((m) => created.body.property_mappings.includes(m.pk))
        .map((m) => m.scope_name)
        .sort();
      expect(scopes).toEqual(["ak_proxy", "email", "entitlements", "openid", "profile"]);

      // A new external host moves the redirect URIs; the client keeps its id.
      const moved = await t.api("PATCH", `${PROXY}${created.body.pk}/`, {
        body: { external_host: "https://metrics.example.test", property_mappings: [] },
      });
      expect(moved.status, moved.text).toBe(200);
      expect(moved.body.client_id).toBe(created.body.client_id);
      expect(moved.body.redirect_uris[0].url).toBe(
        "https://metrics.example.test/outpost.goauthentik.io/callback?X-authentik-auth-callback=true",
      );
      // The always-mapped scopes cannot be taken away.
      expect(moved.body.property_mappings.length).toBe(5);
      const read = await t.api("GET", `${PROXY}${created.body.pk}/`);
      expect(read.body).toEqual(moved.body);
      // An application without its own launch URL opens the proxy's external host (authentik's default).
      const app = await t.api("POST", "/api/v3/core/applications/", {
        body: { name: "Metrics", slug: "metrics", provider: created.body.pk },
      });
      expect(app.body.launch_url).toBe("https://metrics.example.test");
      const oauth = await t.api("POST", "/api/v3/providers/oauth2/", {
        body: {
          name: "wiki-oidc",
          redirect_uris: [{ matching_mode: "strict", url: "https://wiki.example.test/oauth/callback" }],
          ...flows,
        },
      });
      const wiki = await t.api("POST", "/api/v3/core/applications/", {
        body: { name: "Wiki", slug: "wiki", provider: oauth.body.pk },
      });
      expect(wiki.body.launch_url).toBe("https://wiki.example.test");
    });

    test("forward modes need no internal host; proxy mode does; bad values are refused by field", async () => {
      const forward = await t.api("POST", PROXY, {
        body: {
          name: "forward",
          mode: "forward_domain",
          external_host: "https://auth.example.test",
          cookie_domain: "example.test",
          ...flows,
        },
      });
      expect(forward.status, forward.text).toBe(201);
      const noInternal = await t.api("POST", PROXY, {
        body: { name: "no-internal", external_host: "https://x.example.test", ...flows },
      });
      expect(noInternal.status).toBe(400);
      expect(noInternal.body).toHaveProperty("internal_host");
      const bad = await t.api("POST", PROXY, {
        body: {
          name: "bad",
          mode: "forward_single",
          external_host: "javascript:alert(1)",
          skip_path_regex: "^/health$\n([unclosed",
          access_token_validity: "forever",
          ...flows,
        },
      });
      expect(bad.status).toBe(400);
      expect(Object.keys(bad.body).sort()).toEqual(
        ["access_token_validity", "external_host", "skip_path_regex"].sort(),
      );
      const unknown = await t.api("POST", PROXY, {
        body: { name: "u", external_host: "https://u.example.test", client_secret: "mine", ...flows },
      });
      expect(unknown.status).toBe(400);
    });

    test("list, search, name filter and delete", async () => {
      const list = await t.api("GET", `${PROXY}?search=grafana`);
      expect(list.status).toBe(200);
      expect(list.body.results.map((p: { name: string }) => p.name)).toEqual(["grafana"]);
      const forward = (await t.api("GET", `${PROXY}?name=forward`)).body.results[0];
      expect((await t.api("DELETE", `${PROXY}${forward.pk}/`)).status).toBe(204);
      expect((await t.api("GET", `${PROXY}${forward.pk}/`)).status).toBe(404);
      // Only proxy providers are listed here.
      await t.api("POST", "/api/v3/providers/oauth2/", {
        body: { name: "plain-oauth", redirect_uris: [], ...flows },
      });
      const all = (await t.api("GET", PROXY)).body.results.map((p: { name: string }) => p.name);
      expect(all).not.toContain("plain-oauth");
    });
  });
}
