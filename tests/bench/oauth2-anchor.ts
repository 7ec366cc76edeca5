/** Starts the `oauth2` suite's anchor (oauth2-anchor-server.ts: `oidc-provider`) as a child process. */
import { resolve } from "node:path";
import { freePort, stopProcess } from "../support/process.ts";
import { onCleanup } from "./cleanup.ts";
import type { OAuth2Client } from "./oauth2-gatehouse.ts";

const SERVER = resolve(import.meta.dir, "oauth2-anchor-server.ts");
const READY_TIMEOUT_MS = 15_000;

export interface OidcProviderAnchor {
  tokenUrl: string;
  client: OAuth2Client;
  pid: number;
  /** Mints `n` authorization codes inside the anchor (its models, as an interaction would). */
  mintCodes(n: number): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startOidcProvider(
  client: Omit<OAuth2Client, "clientId" | "clientSecret">,
): Promise<OidcProviderAnchor> {
  const port = await freePort();
  const full: OAuth2Client = { ...client, clientId: "bench-client", clientSecret: crypto.randomUUID() };
  const proc = Bun.spawn([process.execPath, SERVER], {
    env: {
      ...process.env,
      BENCH_OIDC_PORT: String(port),
      BENCH_OIDC_CLIENT_ID: full.clientId,
      BENCH_OIDC_CLIENT_SECRET: full.clientSecret,
      BENCH_OIDC_REDIRECT_URI: full.redirectUri,
      BENCH_OIDC_CODE_CHALLENGE: full.challenge,
    },
    stdin: "ignore",
    stdout: "ignore",
    // Its start-up warnings (development adapter, Bun not being Node.js) say nothing about the figures.
    stderr: "ignore",
  });
  const stop = onCleanup(() => stopProcess(proc));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`oidc-provider exited (${proc.exitCode}) before answering`);
    try {
      const res = await fetch(`${base}/.well-known/openid-configuration`, {
        signal: AbortSignal.timeout(1000),
      });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`oidc-provider did not answer within ${READY_TIMEOUT_MS} ms`);
    }
    await Bun.sleep(50);
  }
  return {
    tokenUrl: `${base}/token`,
    client: full,
    pid: proc.pid,
    async mintCodes(n) {
      const res = await fetch(`${base}/bench/codes?n=${n}`, { method: "POST" });
      const text = await res.text();
      if (!res.ok) throw new Error(`oidc-provider could not mint codes: ${text}`);
      return text.split("\n").filter(Boolean);
    },
    stop,
  };
}
