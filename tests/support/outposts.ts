/** Outpost processes for end-to-end tests: the compiled binary (built once per test run) or `bun run`. */
import { chmodSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./tools.ts";

const ROOT = join(import.meta.dir, "../..");
let built: Promise<void> | undefined;

/** `npm run build`, once for every suite in this test run. */
function build(): Promise<void> {
  built ??= run([process.execPath, join(ROOT, "scripts/build.ts")]).then((res) => {
    if (res.code !== 0) throw new Error(`npm run build failed: ${res.stderr}`);
  });
  return built;
}

/**
 * The command that runs outpost `kind`: its compiled binary copied into `dir` (outside the checkout, so
 * it cannot lean on files beside it), or its main.ts through `bun run`.
 */
export async function outpostCommand(
  kind: "ldap" | "radius" | "proxy",
  mode: "binary" | "bun run",
  dir: string,
): Promise<string[]> {
  if (mode === "bun run") return [process.execPath, join(ROOT, "outposts", kind, "main.ts")];
  await build();
  const binary = join(dir, `gatehouse-${kind}`);
  copyFileSync(join(ROOT, "dist", `gatehouse-${kind}`), binary);
  chmodSync(binary, 0o755);
  return [binary];
}
