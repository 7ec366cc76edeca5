/**
 * The device authorization grant (RFC 8628) with openid-client as the device: it asks for codes and
 * polls while the user, over real HTTP, signs in, enters the code at /device and runs the flow.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as oidc from "openid-client";
import { startServer } from "../../core/src/http/server.ts";
import { memoryLogger } from "../../shared/log.ts";
import { startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";

describe("OAuth2 device authorization with openid-client", () => {
  let t: TestCore;
  let core: ReturnType<typeof startServer>;
  let base = "";
  let provider: { pk: number; client_id: string };
  /** The flow client's requests, sent over the network to the listening core. */
  const overHttp = (r: Request) => fetch(new Request(r.url.replace("http://localhost", base), r));

  beforeAll(async () => {
    t = await startTestCore("sqlite");
    core = startServer(t.core, memoryLogger("warn"), "127.0.0.1:0");
    base = `http://127.0.0.1:${core.server.port}`;
    const flow = async (slug: string) => (await t.api("GET", `/api/v3/flows/instances/${slug}/`)).body.pk;
    const key = (
      await t.api("POST", "/api/v3/crypto/certificatekeypairs/generate/", {
        body: { common_name: "tv-signing", validity_days: 30, alg: "ecdsa" },
      })
    ).body;
    const scopes = (
      await t.api("GET", "/api/v3/propertymappings/provider/scope/?managed__isnull=false&page_size=50")
    ).body.results;
    provider = (
      await t.api("POST", "/api/v3/providers/oauth2/", {
        body: {
          name: "tv",
          client_type: "public",
          authorization_flow: await flow("default-provider-authorization-implicit-consent"),
          invalidation_flow: await flow("default-invalidation-flow"),
          redirect_uris: [],
          signing_key: key.pk,
          property_mappings: scopes.map((s: { pk: string }) => s.pk),
        },
      })
    ).body;
    await t.api("POST", "/api/v3/core/applications/", {
      body: { name: "Living room TV", slug: "tv", provider: provider.pk },
    });
    const user = await t.api("POST", "/api/v3/core/users/", {
      body: { username: "alice", name: "Alice", email: "alice@example.test" },
    });
    await t.api("POST", `/api/v3/core/users/${user.body.pk}/set_password/`, {
      body: { password: "alice-password" },
    });
  });
  afterAll(async () => {
    await core?.stop();
    await t?.stop();
  });

  /** What the user does in a browser: sign in, enter the code at /device, run the flow to its end. */
  async function approveInBrowser(verificationUriComplete: string): Promise<string> {
    const browser = new FlowClient(overHttp);
    const signedIn = await browser.login("default-authentication-flow", "alice", "alice-password");
    expect(signedIn.component).toBe("xak-flow-redirect");
    const cookie = `authentik_session=${browser.cookie}`;
    const page = await fetch(verificationUriComplete, { headers: { cookie } });
    const html = await page.text();
    const code = /name="code" value="([^"]*)"/.exec(html)?.[1] ?? "";
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
    const entered = await fetch(`${base}/device`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie, origin: base, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ code, csrf }).toString(),
    });
    expect(entered.status).toBe(303);
    const slug = /^\/if\/flow\/([^/]+)\/$/.exec(entered.headers.get("location") ?? "")?.[1] ?? "";
    return (await browser.get(slug)).component;
  }

  test("initiate, poll while the user approves, then verified tokens", async () => {
    const config = await oidc.discovery(
      new URL(`${base}/application/o/tv/`),
      provider.client_id,
      undefined,
      oidc.None(),
      { execute: [oidc.allowInsecureRequests] },
    );
    expect(config.serverMetadata().device_authorization_endpoint).toBe(`${base}/application/o/device/`);
    const started = await oidc.initiateDeviceAuthorization(config, { scope: "openid profile email" });
    expect(started.verification_uri).toBe(`${base}/device`);
    expect(started.interval).toBe(5);
    const polling = oidc.pollDeviceAuthorizationGrant(config, started);
    expect(await approveInBrowser(started.verification_uri_complete ?? "")).toBe(
      "ak-provider-oauth2-device-code-finish",
    );
    const tokens = await polling;
    expect(tokens.token_type).toBe("bearer");
    const claims = tokens.claims();
    expect(claims?.iss).toBe(`${base}/application/o/tv/`);
    expect(claims?.email).toBe("alice@example.test");
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims?.sub ?? "");
    expect(info.preferred_username).toBe("alice");
  });
});
