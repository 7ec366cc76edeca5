/**
 * The `oauth2` suite's Gatehouse side: a core (SQLite or PostgreSQL) with an OAuth2 provider signing
 * with a generated ECDSA P-256 key (ES256), the managed scope mappings, an application and a user; and
 * authorization codes minted the way a browser gets them — signed in through the flow executor, GET
 * /application/o/authorize/, the authorization flow run to its final redirect.
 */
import { join } from "node:path";
import { randomSecret } from "../../shared/crypto.ts";
import { FlowClient } from "../support/flow-client.ts";
import { type Backend, type CoreProcess, Install } from "../support/process.ts";
import { onCleanup } from "./cleanup.ts";
import type { BenchSettings } from "./suite.ts";

const USERNAME = "bench-user";
const PASSWORD = "Bench-Password-Correct-1";
const SLUG = "bench-app";

export interface OAuth2Client {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  /** The PKCE verifier every minted code was asked for with (S256). */
  verifier: string;
  challenge: string;
}

export interface GatehouseOAuth2 {
  core: CoreProcess;
  tokenUrl: string;
  client: OAuth2Client;
  /** Mints `n` codes, `concurrency` signed-in browsers at a time. */
  mintCodes(n: number, concurrency: number): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startGatehouse(
  backend: Backend,
  settings: BenchSettings,
  client: Omit<OAuth2Client, "clientId" | "clientSecret">,
): Promise<GatehouseOAuth2> {
  const token = `bench-${randomSecret()}`;
  const install = await Install.create(backend, {
    GATEHOUSE_BOOTSTRAP_TOKEN: token,
    GATEHOUSE_BOOTSTRAP_PASSWORD: randomSecret(),
    GATEHOUSE_LOG__LEVEL: "warn",
    // The core's own default pool size, not the 4 the end-to-end tests use.
    GATEHOUSE_POSTGRESQL__POOL_MAX: undefined,
    ...(settings.profileDir && {
      BUN_OPTIONS: `--cpu-prof --cpu-prof-md --cpu-prof-dir=${join(settings.profileDir, backend)}`,
    }),
  });
  const dispose = onCleanup(() => install.dispose());
  try {
    const core = await install.start();
    const api = core.api(token);
    const flowPk = async (slug: string) => (await api<{ pk: string }>("GET", `/flows/instances/${slug}/`)).pk;
    const scopes = await api<{ results: { pk: string }[] }>(
      "GET",
      "/propertymappings/provider/scope/?managed__isnull=false&page_size=50",
    );
    const key = await api<{ pk: string }>("POST", "/crypto/certificatekeypairs/generate/", {
      common_name: "bench-oauth2-signing",
      validity_days: 30,
      alg: "ecdsa",
    });
    const provider = await api<{ pk: number; client_id: string; client_secret: string }>(
      "POST",
      "/providers/oauth2/",
      {
        name: "bench-oauth2",
        authorization_flow: await flowPk("default-provider-authorization-implicit-consent"),
        invalidation_flow: await flowPk("default-invalidation-flow"),
        redirect_uris: [{ matching_mode: "strict", url: client.redirectUri }],
        signing_key: key.pk,
        property_mappings: scopes.results.map((s) => s.pk),
        // Codes are minted well before the run that exchanges them.
        access_code_validity: "hours=1",
      },
    );
    await api("POST", "/core/applications/", { name: SLUG, slug: SLUG, provider: provider.pk });
    const user = await api<{ pk: number }>("POST", "/core/users/", {
      username: USERNAME,
      name: "Bench User",
      email: "bench-user@example.test",
    });
    await api("POST", `/core/users/${user.pk}/set_password/`, { password: PASSWORD });

    const full: OAuth2Client = {
      ...client,
      clientId: provider.client_id,
      clientSecret: provider.client_secret,
    };
    return {
      core,
      tokenUrl: `${core.url}/application/o/token/`,
      client: full,
      mintCodes: (n, concurrency) => mintCodes(core, full, n, concurrency),
      stop: dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** The executor's requests (FlowClient speaks to http://localhost) sent to the core, redirects kept. */
const handleFor = (core: CoreProcess) => (request: Request) =>
  fetch(new Request(request.url.replace("http://localhost", core.url), request), { redirect: "manual" });

async function mintCodes(
  core: CoreProcess,
  client: OAuth2Client,
  n: number,
  concurrency: number,
): Promise<string[]> {
  const handle = handleFor(core);
  const query = new URLSearchParams({
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    response_type: "code",
    scope: "openid profile email",
    code_challenge: client.challenge,
    code_challenge_method: "S256",
  });
  const authorizeUrl = `${core.url}/application/o/authorize/?${query}`;
  const codes: string[] = [];
  // Each worker is one browser with its own session: a session runs one flow at a time.
  const worker = async () => {
    const browser = new FlowClient(handle);
    const signedIn = await browser.login("default-authentication-flow", USERNAME, PASSWORD);
    if (signedIn.component !== "xak-flow-redirect")
      throw core.failure(`sign-in stopped at ${signedIn.component}`);
    while (codes.length < n) {
      const res = await fetch(authorizeUrl, {
        headers: { cookie: `authentik_session=${browser.cookie}` },
        redirect: "manual",
      });
      const flow = /^\/if\/flow\/([^/]+)\/$/.exec(res.headers.get("location") ?? "")?.[1];
      if (res.status !== 302 || !flow) throw core.failure(`authorize answered ${res.status} without a flow`);
      const done = await browser.get(flow);
      const code = done.component === "xak-flow-redirect" && new URL(done.to).searchParams.get("code");
      if (!code)
        throw core.failure(`the authorization flow ended with ${JSON.stringify(done).slice(0, 300)}`);
      codes.push(code);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return codes.slice(0, n);
}
