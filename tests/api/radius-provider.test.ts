import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeAttributes } from "../../shared/radius/attributes.ts";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";

for (const backend of backendNames()) {
  describe(`RADIUS provider, property mappings and what a RADIUS outpost reads, on ${backend}`, () => {
    let t: TestCore;
    let provider: { pk: number; shared_secret: string };
    let mapping: { pk: string };
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
      mapping = await post("/api/v3/propertymappings/provider/radius/", {
        name: "vlan",
        expression:
          '{"Tunnel-Type": "VLAN", "Tunnel-Medium-Type": "IEEE-802", "Tunnel-Private-Group-Id": "42"}',
      });
      provider = await post("/api/v3/providers/radius/", {
        name: "wifi",
        authorization_flow: auth,
        invalidation_flow: logout,
        property_mappings: [mapping.pk],
      });
      await post("/api/v3/core/applications/", { name: "Wifi", slug: "wifi", provider: provider.pk });
      const outpost = await post("/api/v3/outposts/instances/", {
        name: "radius-edge",
        type: "radius",
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

    test("the provider has authentik's defaults and a generated shared secret", async () => {
      const got = (await t.api("GET", `/api/v3/providers/radius/${provider.pk}/`)).body;
      expect(got).toMatchObject({
        client_networks: "0.0.0.0/0, ::/0",
        mfa_support: true,
        allow_legacy_clients: false,
        property_mappings: [mapping.pk],
        assigned_application_slug: "wifi",
        meta_model_name: "authentik_providers_radius.radiusprovider",
        outpost_set: ["radius-edge"],
      });
      expect(got.shared_secret.length).toBeGreaterThanOrEqual(32);
    });

    test("bad networks, unknown mappings and bad expressions are refused", async () => {
      const bad = await t.api("PATCH", `/api/v3/providers/radius/${provider.pk}/`, {
        body: { client_networks: "10.0.0.0/33, nope" },
      });
      expect(bad.status).toBe(400);
      expect(bad.body.client_networks[0]).toContain("10.0.0.0/33");
      const unknown = await t.api("PATCH", `/api/v3/providers/radius/${provider.pk}/`, {
        body: { property_mappings: ["00000000-0000-4000-8000-000000000000"] },
      });
      expect(unknown.status).toBe(400);
      const syntax = await t.api("POST", "/api/v3/propertymappings/provider/radius/", {
        body: { name: "broken", expression: "{{" },
      });
      expect(syntax.status).toBe(400);
      const listed = (await t.api("GET", "/api/v3/propertymappings/provider/radius/")).body;
      expect(listed.results.map((m: { name: string }) => m.name)).toEqual(["vlan"]);
    });

    test("the outpost reads its providers with their secrets and flow slugs", async () => {
      const res = await t.api("GET", "/api/v3/outposts/radius/", { token: outpostKey });
      expect(res.status).toBe(200);
      expect(res.body.results).toEqual([
        {
          pk: provider.pk,
          name: "wifi",
          application_slug: "wifi",
          auth_flow_slug: "default-authentication-flow",
          client_networks: "0.0.0.0/0, ::/0",
          shared_secret: provider.shared_secret,
          mfa_support: true,
          certificate: null,
          allow_legacy_clients: false,
        },
      ]);
    });

    test("changing a mapping tells the outposts of the providers using it", async () => {
      const outposts = (await t.api("GET", "/api/v3/outposts/instances/?search=radius-edge")).body.results;
      const heard: { kind: string; outpost?: string }[] = [];
      const off = t.core.ctx.signals.on((s) => heard.push(s as { kind: string; outpost?: string }));
      try {
        const res = await t.api("PATCH", `/api/v3/propertymappings/provider/radius/${mapping.pk}/`, {
          body: {
            expression:
              '{"Tunnel-Type": "VLAN", "Tunnel-Medium-Type": "IEEE-802", "Tunnel-Private-Group-Id": "42"}',
          },
        });
        expect(res.status, res.text).toBe(200);
        expect(heard).toContainEqual({ kind: "outpost_changed", outpost: outposts[0].pk });
      } finally {
        off();
      }
    });

    test("check_access answers access and the reply attributes, base64", async () => {
      const client = new FlowClient((r) => t.core.app.handle(r), {
        headers: { "x-authentik-outpost-token": outpostKey, "x-authentik-remote-ip": "192.0.2.50" },
      });
      const login = await client.login(
        "default-authentication-flow",
        "ann",
        "ann-password-1",
        "goauthentik.io/outpost/radius=true",
      );
      expect(login.component).toBe("xak-flow-redirect");
      const asAnn = () =>
        t.api("GET", `/api/v3/outposts/radius/${provider.pk}/check_access/?app_slug=wifi`, {
          token: null,
          headers: { cookie: `authentik_session=${client.cookie}` },
        });
      const ok = (await asAnn()).body;
      expect(ok.access).toEqual({ passing: true, messages: [], log_messages: [] });
      const attrs = decodeAttributes(Buffer.from(ok.attributes, "base64"));
      expect(attrs.map(([type, v]) => [type, v.toString("hex")])).toEqual([
        [64, "0000000d"],
        [65, "00000006"],
        [81, Buffer.from("42").toString("hex")],
      ]);

      // A mapping that fails: access refused, and a property_mapping_exception event.
      await t.api("PATCH", `/api/v3/propertymappings/provider/radius/${mapping.pk}/`, {
        body: { expression: '{"Session-Timeout": "soon"}' },
      });
      const failed = (await asAnn()).body;
      expect(failed.access.passing).toBe(false);
      expect(failed.access.messages[0]).toContain('property mapping "vlan" failed');
      const events = await t.api("GET", "/api/v3/events/events/?action=property_mapping_exception");
      expect(events.body.results[0].context.mapping.name).toBe("vlan");
      const unknown = await t.api(
        "GET",
        `/api/v3/outposts/radius/${provider.pk}/check_access/?app_slug=nope`,
        {
          token: null,
          headers: { cookie: `authentik_session=${client.cookie}` },
        },
      );
      expect(unknown.status).toBe(404);
    });
  });
}
