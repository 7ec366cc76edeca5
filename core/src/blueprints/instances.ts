/**
 * Blueprint instances: blueprints from files (applied at start, again only when the file changes) and
 * from the API (`content`), with the status of their last application.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import type { Selectable } from "kysely";
import { sha256Hex } from "../../../shared/crypto.ts";
import { isGatehouseError, notFound, validationError } from "../../../shared/errors.ts";
import type { CoreContext, Db } from "../context.ts";
import { recordEventSafely } from "../events/service.ts";
import { asJson, fromJson, toBool, toIsoOrNull } from "../store/codec.ts";
import type { BlueprintInstancesTable } from "../store/database.ts";
import { applyBlueprint } from "./apply.ts";
import { parseBlueprint } from "./parse.ts";

export type InstanceRow = Selectable<BlueprintInstancesTable>;

/** The blueprints shipped with Gatehouse (the default flows and brand). */
export const BUILTIN_DIR = join(import.meta.dir, "../../../blueprints");

/** The built-in directory, then the operator's (blueprints_dir), in the order they are applied. */
export function blueprintDirs(extra: string): string[] {
  return extra ? [BUILTIN_DIR, extra] : [BUILTIN_DIR];
}

export function serializeInstance(row: InstanceRow) {
  return {
    pk: row.instance_uuid,
    name: row.name,
    path: row.path,
    context: fromJson(row.context),
    last_applied: toIsoOrNull(row.last_applied) ?? "",
    last_applied_hash: row.last_applied_hash,
    status: row.status,
    enabled: toBool(row.enabled),
    managed_models: fromJson<{ items?: string[] }>(row.managed_models).items ?? [],
    metadata: fromJson(row.metadata),
    content: row.content,
  };
}

export async function getInstance(db: Db, uuid: string): Promise<InstanceRow> {
  const row = await db
    .selectFrom("blueprint_instances")
    .selectAll()
    .where("instance_uuid", "=", uuid)
    .executeTakeFirst();
  if (!row) throw notFound("BP0030InstanceNotFound", "No Blueprint Instance matches the given query.");
  return row;
}

/** The YAML a file-backed instance reads from, or the instance's own content. */
function instanceContent(row: InstanceRow, dirs: readonly string[]): string {
  if (!row.path) return row.content;
  for (const dir of dirs) {
    const full = join(dir, row.path);
    if (full.startsWith(dir) && statSync(full, { throwIfNoEntry: false })?.isFile())
      return readFileSync(full, "utf8");
  }
  throw validationError("BP0031FileMissing", { path: [`blueprint file ${row.path} was not found`] });
}

/** Applies an instance and records the outcome; a failed application changes nothing but the status. */
export async function applyInstance(
  ctx: CoreContext,
  row: InstanceRow,
  dirs: readonly string[],
): Promise<InstanceRow> {
  const content = instanceContent(row, dirs);
  const hash = sha256Hex(content);
  try {
    const result = await applyBlueprint(ctx, content, fromJson(row.context));
    return await ctx.store.db
      .updateTable("blueprint_instances")
      .set({
        status: "successful",
        last_applied: ctx.clock().toISOString(),
        last_applied_hash: hash,
        managed_models: asJson({ items: result.models }),
        metadata: asJson(result.blueprint.metadata),
      })
      .where("instance_uuid", "=", row.instance_uuid)
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (err) {
    await ctx.store.db
      .updateTable("blueprint_instances")
      .set({ status: "error" })
      .where("instance_uuid", "=", row.instance_uuid)
      .execute();
    await recordEventSafely(ctx, {
      action: "configuration_error",
      context: { message: (err as Error).message, blueprint: row.name, path: row.path },
    });
    throw err;
  }
}

/** Validates a blueprint's YAML without applying it (for API writes). */
export function checkContent(content: string): Record<string, unknown> {
  return parseBlueprint(content).metadata;
}

function yamlFiles(dir: string): string[] {
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (/\.ya?ml$/.test(name)) out.push(relative(dir, full));
    }
  };
  walk(dir);
  return out;
}

export function availableFiles(dirs: readonly string[]) {
  return dirs.flatMap((dir) =>
    yamlFiles(dir).map((path) => {
      const content = readFileSync(join(dir, path), "utf8");
      let meta: Record<string, unknown> = { name: path, labels: {} };
      try {
        meta = checkContent(content);
      } catch {
        // Listed anyway; applying it will report what is wrong.
      }
      return { path, last_m: statSync(join(dir, path)).mtime.toISOString(), hash: sha256Hex(content), meta };
    }),
  );
}

/**
 * At start: every file in the blueprint directories gets an instance; enabled instances whose file
 * changed (or never applied cleanly) are applied. Failures are logged and recorded, never fatal.
 */
export async function applyFileBlueprints(ctx: CoreContext, dirs: readonly string[]): Promise<void> {
  for (const file of availableFiles(dirs)) {
    let row = await ctx.store.db
      .selectFrom("blueprint_instances")
      .selectAll()
      .where("path", "=", file.path)
      .executeTakeFirst();
    if (!row) {
      const name = String(file.meta.name || file.path);
      row = await ctx.store.db
        .insertInto("blueprint_instances")
        .values({
          instance_uuid: crypto.randomUUID(),
          name: (await nameTaken(ctx.store.db, name)) ? file.path : name,
          path: file.path,
          context: asJson({}),
          last_applied: null,
          last_applied_hash: "",
          status: "unknown",
          enabled: true,
          managed_models: asJson({ items: [] }),
          metadata: asJson(file.meta),
          content: "",
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    }
    if (!toBool(row.enabled) || (row.status === "successful" && row.last_applied_hash === file.hash))
      continue;
    try {
      await applyInstance(ctx, row, dirs);
      ctx.log.info("blueprint applied", { blueprint: row.name, path: file.path });
    } catch (err) {
      ctx.log.error("blueprint failed", {
        code: "BP0040StartupApply",
        blueprint: row.name,
        path: file.path,
        error: isGatehouseError(err) ? (err.fields ?? err.message) : (err as Error).message,
      });
    }
  }
}

async function nameTaken(db: Db, name: string): Promise<boolean> {
  return Boolean(
    await db
      .selectFrom("blueprint_instances")
      .select("instance_uuid")
      .where("name", "=", name)
      .executeTakeFirst(),
  );
}
