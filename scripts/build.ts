/**
 * `npm run build [-- --target=bun-linux-arm64 …]`: the outposts as single-file binaries in dist/.
 * CommonJS output (chosen when ldapjs, which breaks as bundled strict ESM — DESIGN.md, "Pitfalls" — was
 * in the LDAP outpost; it now speaks LDAP itself, and CJS stays the proven format); no .env or
 * bunfig.toml is read at run time. With --target, also builds for that platform (suffix added).
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";

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
    const cmd = [
      process.execPath,
      "build",
      "--compile",
      "--format=cjs",
      "--minify-syntax",
      "--no-compile-autoload-dotenv",
      "--no-compile-autoload-bunfig",
      ...(target ? [`--target=${target}`] : []),
      join(root, "outposts", name, "main.ts"),
      "--outfile",
      out,
    ];
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
