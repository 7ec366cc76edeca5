/**
 * The `oauth2` suite's anchor, run as its own process: `oidc-provider` (in-memory adapter) with an
 * ES256 key and one confidential client (client_secret_post) allowed client_credentials and
 * authorization_code with PKCE. Access tokens are ES256 JWTs for one resource server, as Gatehouse's
 * are. `POST /bench/codes?n=N` mints N authorization codes in-process (a grant and a code each, as an
 * interaction would leave them) and answers them one per line. Settings come from BENCH_OIDC_* variables.
 */
import { createServer } from "node:http";
import { exportJWK, generateKeyPair } from "jose";
import Provider from "oidc-provider";
import MemoryAdapter from "oidc-provider/lib/adapters/memory_adapter.js";
import LRU from "oidc-provider/lib/helpers/lru.js";

const port = Number(process.env.BENCH_OIDC_PORT);
const clientId = process.env.BENCH_OIDC_CLIENT_ID ?? "";
const clientSecret = process.env.BENCH_OIDC_CLIENT_SECRET ?? "";
const redirectUri = process.env.BENCH_OIDC_REDIRECT_URI ?? "";
const challenge = process.env.BENCH_OIDC_CODE_CHALLENGE ?? "";
if (!port || !clientId || !clientSecret || !redirectUri || !challenge) {
  console.error("oauth2-anchor-server: BENCH_OIDC_* settings are missing");
  process.exit(2);
}

// oidc-provider's own in-memory adapter, on a store with room for the codes minted ahead of a run (the
// default store keeps between 1,000 and 2,000 entries, so early codes would be evicted).
const store = new LRU({ maxSize: 10_000_000 });
const adapter = (model: string) => new MemoryAdapter(model, store, 0);

const issuer = `http://127.0.0.1:${port}`;
const resource = "urn:gatehouse:bench:api";
const accountId = "bench-user";
const { privateKey } = await generateKeyPair("ES256", { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), alg: "ES256", use: "sig", kid: "bench-es256" };

const provider = new Provider(issuer, {
  adapter,
  jwks: { keys: [jwk] },
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ["authorization_code", "client_credentials"],
      response_types: ["code"],
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: "client_secret_post",
      id_token_signed_response_alg: "ES256",
      scope: "openid profile email api",
    },
  ],
  scopes: ["openid", "profile", "email", "api"],
  cookies: { keys: ["bench-cookie-key-not-secret"] },
  claims: {
    openid: ["sub"],
    profile: ["name", "preferred_username"],
    email: ["email", "email_verified"],
  },
  findAccount: (_ctx: unknown, sub: string) => ({
    accountId: sub,
    claims: () => ({
      sub,
      name: "Bench User",
      preferred_username: sub,
      email: `${sub}@example.test`,
      email_verified: true,
    }),
  }),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: "api",
        audience: resource,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "ES256" } },
      }),
    },
  },
  // Gatehouse's defaults: access and ID tokens for 5 minutes.
  ttl: { AuthorizationCode: 3600, Grant: 3600, AccessToken: 300, ClientCredentials: 300, IdToken: 300 },
});

async function mintCodes(n: number): Promise<string[]> {
  const client = await provider.Client.find(clientId);
  if (!client) throw new Error("the bench client is missing");
  const codes: string[] = [];
  for (let i = 0; i < n; i++) {
    const grant = new provider.Grant({ accountId, clientId });
    grant.addOIDCScope("openid profile email");
    grant.addResourceScope(resource, "api");
    const grantId = await grant.save();
    const code = new provider.AuthorizationCode({
      accountId,
      grantId,
      client,
      scope: "openid profile email api",
      resource,
      redirectUri,
      codeChallenge: challenge,
      codeChallengeMethod: "S256",
      authTime: Math.floor(Date.now() / 1000),
    });
    codes.push(await code.save());
  }
  return codes;
}

const callback = provider.callback();
createServer((req, res) => {
  const url = new URL(req.url ?? "/", issuer);
  if (req.method === "POST" && url.pathname === "/bench/codes") {
    mintCodes(Number(url.searchParams.get("n") ?? 1)).then(
      (codes) => res.writeHead(200, { "content-type": "text/plain" }).end(codes.join("\n")),
      (err: Error) => res.writeHead(500).end(err.message),
    );
    return;
  }
  void callback(req, res);
}).listen(port, "127.0.0.1");
