/**
 * The `bun build --compile` command for one outpost binary: CommonJS output (chosen when ldapjs, which
 * breaks as bundled strict ESM — DESIGN.md, "Pitfalls" — was in the LDAP outpost; it now speaks LDAP
 * itself, and CJS stays the proven format); no .env or bunfig.toml read at run time. scripts/build.ts
 * builds dist/ with it; the proxy benchmark builds the binary it measures with it too.
 */
export function compileCommand(entry: string, outfile: string, target?: string): string[] {
  return [
    process.execPath,
    "build",
    "--compile",
    "--format=cjs",
    "--minify-syntax",
    "--no-compile-autoload-dotenv",
    "--no-compile-autoload-bunfig",
    ...(target ? [`--target=${target}`] : []),
    entry,
    "--outfile",
    outfile,
  ];
}
