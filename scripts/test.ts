/**
 * `npm test`: every check, in order, with output streamed live. Extra arguments go to `bun test`.
 * Exits non-zero if any step failed, after naming the steps that did.
 */
import { resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const bin = (name: string) => `${root}/node_modules/.bin/${name}`;

const steps: { name: string; cmd: string[] }[] = [
  // bunfig.toml's [test] timeout is not read by this bun; the per-test limit is given here.
  { name: "bun test", cmd: [process.execPath, "test", "--timeout", "30000", ...process.argv.slice(2)] },
  { name: "tsc --noEmit", cmd: [bin("tsc"), "--noEmit", "-p", "."] },
  { name: "tsc --noEmit (web)", cmd: [bin("tsc"), "--noEmit", "-p", "core/web"] },
  { name: "biome check", cmd: [bin("biome"), "check", "."] },
  { name: "README settings table", cmd: [process.execPath, "scripts/config-docs.ts", "--check"] },
];

const failed: string[] = [];
for (const step of steps) {
  console.log(`\n=== ${step.name} ===`);
  // stdout and stderr pass straight through, so bun test's " N pass" / " N fail" lines (stderr) show.
  const proc = Bun.spawn(step.cmd, { stdio: ["inherit", "inherit", "inherit"], cwd: root });
  const code = await proc.exited;
  if (code !== 0) failed.push(`${step.name} (exit ${code})`);
}

console.log(
  `\n=== summary ===\n${failed.length === 0 ? "all steps passed" : `failed: ${failed.join(", ")}`}`,
);
process.exit(failed.length === 0 ? 0 : 1);
