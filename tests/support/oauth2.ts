/** OAuth2 test fixtures: an application with its own OAuth2 provider, and users who can sign in. */
import { expect } from "bun:test";
import type { TestCore } from "./core.ts";

export const IMPLICIT_CONSENT = "default-provider-authorization-implicit-consent";
export const EXPLICIT_CONSENT = "default-provider-authorization-explicit-consent";

export interface OAuth2Client {
  pk: number;
  client_id: string;
  client_secret: string;
}

export const flowPk = async (t: TestCore, slug: string): Promise<string> =>
  (await t.api("GET", `/api/v3/flows/instances/${slug}/`)).body.pk;

/** The pks of authentik's managed scope mappings (openid, email, profile, …). */
export async function managedScopes(t: TestCore): Promise<string[]> {
  const list = await t.api(
    "GET",
    "/api/v3/propertymappings/provider/scope/?managed__isnull=false&page_size=50",
  );
  return list.body.results.map((s: { pk: string }) => s.pk);
}

/**
 * An application `slug` with an OAuth2 provider of the same name signing with a new ECDSA key (ES256),
 * the implicit-consent flow and the default invalidation flow unless `extra` says otherwise.
 */
export async function oauth2Application(
  t: TestCore,
  slug: string,
  extra: Record<string, unknown> = {},
): Promise<OAuth2Client> {
  const key = await t.api("POST", "/api/v3/crypto/certificatekeypairs/generate/", {
    body: { common_name: `${slug}-signing`, validity_days: 30, alg: "ecdsa" },
  });
  const provider = await t.api("POST", "/api/v3/providers/oauth2/", {
    body: {
      name: slug,
      authorization_flow: await flowPk(t, IMPLICIT_CONSENT),
      invalidation_flow: await flowPk(t, "default-invalidation-flow"),
      redirect_uris: [],
      signing_key: key.body.pk,
      ...extra,
    },
  });
  expect(provider.status, provider.text).toBe(201);
  const app = await t.api("POST", "/api/v3/core/applications/", {
    body: { name: slug, slug, provider: provider.body.pk },
  });
  expect(app.status, app.text).toBe(201);
  return provider.body;
}

/** A user `username` with the password `<username>-password`. */
export async function userWithPassword(t: TestCore, username: string, body: Record<string, unknown> = {}) {
  const user = await t.api("POST", "/api/v3/core/users/", {
    body: { username, name: username, email: `${username}@example.test`, ...body },
  });
  expect(user.status, user.text).toBe(201);
  await t.api("POST", `/api/v3/core/users/${user.body.pk}/set_password/`, {
    body: { password: `${username}-password` },
  });
  return user.body;
}
