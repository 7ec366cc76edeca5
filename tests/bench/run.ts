/**
 * `npm run bench [-- <suite> …]`: runs every `<suite>.bench.ts` in tests/bench (or the ones named),
 * prints each suite's tables and writes results/<suite>.json. Benchmarks are not tests: nothing here
 * passes or fails on a figure; a run fails only when a suite cannot measure. Everything a suite starts
 * is undone after it, after a failure, and on SIGINT/SIGTERM.
 */
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { cleanupAll } from "./cleanup.ts";
import { formatTable, writeResults } from "./report.ts";
import { type BenchSuite, benchSettings, SetupError } from "./suite.ts";

const SUFFIX = ".bench.ts";

const available = readdirSync(import.meta.dir)
  .filter((f) => f.endsWith(SUFFIX))
  .map((f) => f.slice(0, -SUFFIX.length))
  .sort();
const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !available.includes(name));
if (unknown.length > 0) {
  console.error(`unknown suite ${unknown.join(", ")}; available: ${available.join(", ")}`);
  process.exit(2);
}
const chosen = asked.length > 0 ? asked : available;

let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${signal}: stopping servers and removing temporary data`);
    // A second pass catches anything the suite started while the first was under way.
    void cleanupAll()
      .then(cleanupAll)
      .finally(() => process.exit(130));
  });
}

const settings = benchSettings();
const failed: string[] = [];
for (const name of chosen) {
  if (interrupted) break;
  const file = join(import.meta.dir, `${name}${SUFFIX}`);
  console.log(`\n=== ${name}: ${relative(process.cwd(), file)} ===`);
  try {
    const { suite } = (await import(file)) as { suite: BenchSuite };
    console.log(suite.description);
    const out = await suite.run(settings);
    for (const table of out.tables) console.log(`\n${formatTable(table)}`);
    if (settings.profileDir) {
      console.log(`\nprofiled run: results not written; CPU profiles are in ${settings.profileDir}`);
    } else {
      console.log(`\nwrote ${relative(process.cwd(), writeResults(name, out.results))}`);
    }
  } catch (err) {
    failed.push(name);
    const detail =
      err instanceof SetupError ? err.message : err instanceof Error ? (err.stack ?? err.message) : err;
    console.error(`\n${name} failed: ${detail}`);
  } finally {
    for (const err of await cleanupAll()) console.error(`cleanup after ${name}: ${err.message}`);
  }
}

if (failed.length > 0) console.error(`\nsuites that could not measure: ${failed.join(", ")}`);
process.exit(interrupted ? 130 : failed.length > 0 ? 1 : 0);
