/**
 * The browser code (core/web, Lit) bundled by Bun on first use and kept in memory: no build step for
 * `npm start`, no CDN, and an ETag so browsers revalidate cheaply.
 */
import { join } from "node:path";
import { sha256Hex } from "../../../shared/crypto.ts";

const WEB = join(import.meta.dir, "../../web");

export const ENTRIES = {
  "flow.js": join(WEB, "flow/executor.ts"),
  "user.js": join(WEB, "user/interface.ts"),
} as const;
export type BundleName = keyof typeof ENTRIES;

export interface Bundle {
  code: string;
  etag: string;
}

let built: Promise<Map<string, Bundle>> | undefined;

async function build(): Promise<Map<string, Bundle>> {
  const out = new Map<string, Bundle>();
  for (const [name, entry] of Object.entries(ENTRIES)) {
    const result = await Bun.build({
      entrypoints: [entry],
      target: "browser",
      minify: true,
      format: "esm",
      conditions: ["production"],
      define: { "process.env.NODE_ENV": '"production"' },
    });
    if (!result.success || !result.outputs[0]) {
      throw new Error(`bundling ${name} failed: ${result.logs.map((l) => l.message).join("; ")}`);
    }
    const code = await result.outputs[0].text();
    out.set(name, { code, etag: `"${sha256Hex(code).slice(0, 32)}"` });
  }
  return out;
}

export async function bundle(name: string): Promise<Bundle | undefined> {
  built ??= build().catch((err) => {
    built = undefined;
    throw err;
  });
  return (await built).get(name);
}
