/** The token endpoint's client-credentials grant, driven by openid-client (a certified relying party). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createRemoteJWKSet, jwtVerify } from "jose";
import * as oidc from "openid-client";
import { startServer } from "../../core/src/http/server.ts";
import { memoryLogger } from "../../shared/log.ts";
import { startTestCore, type TestCore } from "../support/core.ts";

describe("OAuth2 client credentials", () => {
  let t: TestCore;
  let core: ReturnType<typeof startServer>;
  let base = "";
  let provider: { pk: number; client_id: string; client_secret: string };
  const issuer = () => `${base}/application/o/billing/`;
  const token = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${base}/application/o/token/`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body,
    });

  beforeAll(async () => {
    t = await startTestCore("sqlite");
    core = startServer(t.core, memoryLogger("warn"), "127.0.0.1:0");
    base = `http://127.0.0.1:${core.server.port}`;
    const flow = async (slug: string) => (await t.api("GET", `/api/v3/flows/instances/${slug}/`)).body.pk;
    const key = (
      await t.api("POST", "/api/v3/crypto/certificatekeypairs/generate/", {
        body: { common_name: "billing-signing", validity_days: 30, alg: "ecdsa" },
      })
    ).body;
    const scopes = (
      await t.api("GET", "/api/v3/propertymappings/provider/scope/?managed__isnull=false&page_size=50")
    ).body.results;
    provider = (
      await t.api("POST", "/api/v3/providers/oauth2/", {
        body: {
          name: "billing",
          authorization_flow: await flow("default-provider-authorization-implicit-consent"),
          invalidation_flow: await flow("default-invalidation-flow"),
          redirect_uris: [],
          signing_key: key.pk,
          property_mappings: scopes.map((s: { pk: string }) => s.pk),
        },
      })
    ).body;
    await t.api("POST", "/api/v3/core/applications/", {
      body: { name: "Billing", slug: "billing", provider: provider.pk },
    });
  });
  afterAll(async () => {
    await core?.stop();
    await t?.stop();
  });

  /** openid-client configured through the provider's discovery document. */
  const config = (auth: "post" | "basic") =>
    oidc.discovery(
      new URL(issuer()),
      provider.client_id,
      provider.client_secret,
      auth === "basic"
        ? oidc.ClientSecretBasic(provider.client_secret)
        : oidc.ClientSecretPost(provider.client_secret),
      { execute: [oidc.allowInsecureRequests] },
    );

  for (const auth of ["post", "basic"] as const)
    test(`client_secret_${auth}: an ES256 access token for the provider's service account, verifiable with the JWKS`, async () => {
      const tokens = await oidc.clientCredentialsGrant(await config(auth), { scope: "profile email" });
      expect(tokens.token_type).toBe("bearer");
      expect(tokens.expires_in).toBe(300);
      expect(tokens.scope).toBe("profile email");
      const jwks = createRemoteJWKSet(new URL(`${base}/application/o/billing/jwks/`));
      const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
        issuer: issuer(),
        audience: provider.client_id,
      });
      expect(protectedHeader.alg).toBe("ES256");
      expect(payload).toMatchObject({
        azp: provider.client_id,
        preferred_username: "ak-billing-client_credentials",
        email_verified: true,
        scope: "profile email",
      });
      expect(payload.sub).toMatch(/^[0-9a-f]{64}$/); // hashed_user_id
      expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(300);
    });

  test("authentik's service-account form: client_id, username and the account's token as password", async () => {
    const account = await t.api("POST", "/api/v3/core/users/service_account/", {
      body: { name: "ci-bot", create_group: false, expiring: false },
    });
    expect(account.status, account.text).toBe(200);
    const discovered = await oidc.discovery(new URL(issuer()), provider.client_id, undefined, oidc.None(), {
      execute: [oidc.allowInsecureRequests],
    });
    const tokens = await oidc.clientCredentialsGrant(discovered, {
      scope: "openid profile",
      username: account.body.username,
      password: account.body.token,
    });
    const jwks = createRemoteJWKSet(new URL(`${base}/application/o/billing/jwks/`));
    const { payload } = await jwtVerify(tokens.access_token, jwks, { audience: provider.client_id });
    expect(payload.preferred_username).toBe("ci-bot");
    expect(tokens.id_token).toBeTruthy();
    // A wrong token is invalid_grant; the provider's own service account is not involved.
    await expect(
      oidc.clientCredentialsGrant(discovered, { username: "ci-bot", password: "wrong" }),
    ).rejects.toMatchObject({ error: "invalid_grant" });
  });

  test("introspection says active with the token's facts until it is revoked (RFC 7662, RFC 7009)", async () => {
    const c = await config("basic");
    const { access_token } = await oidc.clientCredentialsGrant(c, { scope: "email" });
    const live = await oidc.tokenIntrospection(c, access_token);
    expect(live).toMatchObject({
      active: true,
      scope: "email",
      client_id: provider.client_id,
      token_type: "Bearer",
      iss: issuer(),
    });
    expect(live.sub).toMatch(/^[0-9a-f]{64}$/);
    expect(live.exp).toBeGreaterThan(Date.now() / 1000);
    // Unknown tokens are inactive, not errors.
    expect((await oidc.tokenIntrospection(c, "not-a-token")).active).toBe(false);
    await oidc.tokenRevocation(c, access_token);
    expect((await oidc.tokenIntrospection(c, access_token)).active).toBe(false);
    // Revoking again, or revoking nonsense, is still 200.
    await oidc.tokenRevocation(c, access_token);
    await oidc.tokenRevocation(c, "nonsense");
    // Another client can neither see nor revoke this provider's tokens.
    const fresh = (await oidc.clientCredentialsGrant(c, { scope: "email" })).access_token;
    const flow = async (slug: string) => (await t.api("GET", `/api/v3/flows/instances/${slug}/`)).body.pk;
    const other = (
      await t.api("POST", "/api/v3/providers/oauth2/", {
        body: {
          name: "other",
          authorization_flow: await flow("default-provider-authorization-implicit-consent"),
          invalidation_flow: await flow("default-invalidation-flow"),
          redirect_uris: [],
        },
      })
    ).body;
    const otherConfig = new oidc.Configuration(
      {
        issuer: `${base}/`,
        introspection_endpoint: `${base}/application/o/introspect/`,
        revocation_endpoint: `${base}/application/o/revoke/`,
      },
      other.client_id,
      other.client_secret,
    );
    oidc.allowInsecureRequests(otherConfig);
    expect((await oidc.tokenIntrospection(otherConfig, fresh)).active).toBe(false);
    await oidc.tokenRevocation(otherConfig, fresh);
    expect((await oidc.tokenIntrospection(c, fresh)).active).toBe(true);
    // And without a valid secret: invalid_client.
    const bad = await fetch(`${base}/application/o/introspect/`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `token=${fresh}&client_id=${provider.client_id}&client_secret=wrong`,
    });
    expect(bad.status).toBe(401);
  });

  test("discovery lists what is served, at the provider's issuer", async () => {
    const res = await fetch(`${issuer()}.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, unknown>;
    expect(doc).toMatchObject({
      issuer: issuer(),
      token_endpoint: `${base}/application/o/token/`,
      jwks_uri: `${base}/application/o/billing/jwks/`,
      authorization_endpoint: `${base}/application/o/authorize/`,
      userinfo_endpoint: `${base}/application/o/userinfo/`,
      id_token_signing_alg_values_supported: ["ES256"],
      code_challenge_methods_supported: ["S256"],
    });
    expect(doc.grant_types_supported).toEqual(
      expect.arrayContaining(["authorization_code", "refresh_token", "client_credentials"]),
    );
    expect(doc.scopes_supported).toEqual(expect.arrayContaining(["openid", "email", "profile", "ak_proxy"]));
    expect((await fetch(`${base}/application/o/nope/.well-known/openid-configuration`)).status).toBe(404);
  });

  test("the service account is made once and is an internal service account", async () => {
    const users = await t.api("GET", "/api/v3/core/users/?username=ak-billing-client_credentials");
    expect(users.body.pagination.count).toBe(1);
    expect(users.body.results[0].type).toBe("internal_service_account");
  });

  test("errors as RFC 6749 §5.2 says, never a token", async () => {
    const basic = (id: string, secret: string) => ({
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`,
    });
    const wrongBasic = await token("grant_type=client_credentials", basic(provider.client_id, "wrong"));
    expect(wrongBasic.status).toBe(401);
    expect(wrongBasic.headers.get("www-authenticate")).toContain("Basic");
    expect((await wrongBasic.json()) as { error: string }).toMatchObject({ error: "invalid_client" });
    expect(wrongBasic.headers.get("cache-control")).toBe("no-store");

    const wrongPost = await token(
      `grant_type=client_credentials&client_id=${provider.client_id}&client_secret=wrong`,
    );
    expect(wrongPost.status).toBe(401);
    expect(wrongPost.headers.get("www-authenticate")).toBeNull();
    const unknown = await token("grant_type=client_credentials&client_id=nobody&client_secret=x");
    expect(((await unknown.json()) as { error: string }).error).toBe("invalid_client");

    const cases: [string, string, number][] = [
      [`client_id=${provider.client_id}&client_secret=${provider.client_secret}`, "invalid_request", 400],
      [
        `grant_type=password&client_id=${provider.client_id}&client_secret=${provider.client_secret}`,
        "unsupported_grant_type",
        400,
      ],
      [
        `grant_type=client_credentials&scope=launch-missiles&client_id=${provider.client_id}&client_secret=${provider.client_secret}`,
        "invalid_scope",
        400,
      ],
      ["grant_type=client_credentials", "invalid_request", 400],
    ];
    for (const [body, error, status] of cases) {
      const res = await token(body);
      expect(res.status, body).toBe(status);
      expect(((await res.json()) as { error: string }).error, body).toBe(error);
    }
    const json = await fetch(`${base}/application/o/token/`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ grant_type: "client_credentials" }),
    });
    expect(((await json.json()) as { error: string }).error).toBe("invalid_request");

    // A public client has no secret to authenticate with: no client credentials for it.
    await t.api("PATCH", `/api/v3/providers/oauth2/${provider.pk}/`, { body: { client_type: "public" } });
    const pub = await token(
      `grant_type=client_credentials&client_id=${provider.client_id}&client_secret=${provider.client_secret}`,
    );
    expect(pub.status).toBe(401);
    await t.api("PATCH", `/api/v3/providers/oauth2/${provider.pk}/`, {
      body: { client_type: "confidential" },
    });
  });
});
