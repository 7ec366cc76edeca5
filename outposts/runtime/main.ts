/**
 * The start-up every outpost binary shares: --help and --version, configuration from the environment
 * (failing clearly), the runtime, and a clean stop on SIGTERM/SIGINT. An outpost's main.ts is one call.
 */

import { ConfigError } from "../../shared/config/load.ts";
import type { KeySpec } from "../../shared/config/schema.ts";
import { envName } from "../../shared/config/schema.ts";
import { VERSION } from "../../shared/version.ts";
import { loadOutpostConfig, type OutpostConfig, outpostConfigSchema } from "./config.ts";
import { type OutpostKind, runOutpost } from "./runtime.ts";

export function outpostMain<S extends Record<string, KeySpec>, C>(
  name: string,
  extra: S,
  makeKind: (config: OutpostConfig & { [K in keyof S]: S[K]["default"] }) => OutpostKind<C>,
): void {
  const args = process.argv.slice(2);
  if (args.includes("--version")) {
    console.log(VERSION);
    return;
  }
  if (args.includes("--help") || args.length > 0) {
    const keys = { ...outpostConfigSchema, ...extra };
    const lines = Object.entries(keys).map(
      ([key, spec]) => `  ${envName(key).padEnd(30)} ${spec.doc} (default: ${JSON.stringify(spec.default)})`,
    );
    console.log(
      `${name} ${VERSION}\n\nSettings (environment; authentik's AUTHENTIK_HOST/AUTHENTIK_TOKEN/AUTHENTIK_INSECURE work too):\n${lines.join("\n")}`,
    );
    process.exitCode = args.includes("--help") ? 0 : 2;
    return;
  }
  void (async () => {
    try {
      const { values, warnings } = loadOutpostConfig(extra);
      for (const w of warnings) console.error(w);
      const running = await runOutpost(
        makeKind(values as OutpostConfig & { [K in keyof S]: S[K]["default"] }),
        values,
      );
      for (const signal of ["SIGTERM", "SIGINT"] as const) {
        process.on(signal, () => void running.stop().then(() => process.exit(0)));
      }
      // Start-up garbage (configuration JSON, module initialisation) is returned before the outpost
      // settles into idle, as the core does: an idle outpost should not hold its start-up peak.
      setTimeout(() => Bun.gc(true), 2000).unref();
    } catch (err) {
      console.error(err instanceof ConfigError ? err.message : `${name}: ${(err as Error).message}`);
      process.exit(1);
    }
  })();
}
