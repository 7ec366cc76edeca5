/**
 * `npm run build [-- --target=bun-linux-arm64 …]`: the outposts as single-file binaries in dist/ (the
 * command is compile.ts's). With --target, also builds for that platform (suffix added).
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { compileCommand } from "./compile.ts";

const root = resolve(import.meta.dir, "..");
const OUTPOSTS = ["ldap", "radius", "proxy"] as const;
const targets = process.argv
  .slice(2)
  .flatMap((a) => (a.startsWith("--target=") ? [a.slice("--target=".length)] : []));

mkdirSync(join(root, "dist"), { recursive: true });
let failed = false;
for (const name of OUTPOSTS) {
  for (const target of [undefined, ...targets]) {
    const out = join(root, "dist", `gatehouse-${name}${target ? `-${target.replace(/^bun-/, "")}` : ""}`);
    const cmd = compileCommand(join(root, "outposts", name, "main.ts"), out, target);
    const proc = Bun.spawn(cmd, { cwd: root, stdout: "inherit", stderr: "inherit" });
    if ((await proc.exited) !== 0) {
      failed = true;
      console.error(`building ${out} failed`);
    } else {
      console.log(`built ${out}`);
    }
  }
}
process.exit(failed ? 1 : 0);
