/**
 * Applies a blueprint in one transaction: entries in order, tags resolved as they are met, each object
 * found by its identifiers and then created, updated or deleted per its `state`. Any failure rolls the
 * whole blueprint back and names the entry that failed.
 */
import { GatehouseError, isGatehouseError, validationError } from "../../../shared/errors.ts";
import type { CoreContext, Db } from "../context.ts";
import { oauth2Changed } from "../oauth2/cache.ts";
import { modelHandler, type Pk } from "./models.ts";
import { type Blueprint, type BlueprintEntry, parseBlueprint, Tag } from "./parse.ts";

export interface ApplyResult {
  blueprint: Blueprint;
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  logs: string[];
  models: string[];
}

/** Models that only steer how blueprints are applied; Gatehouse notes and skips them. */
const META_MODELS = new Set(["authentik_blueprints.metaapplyblueprint"]);

export async function applyBlueprint(
  ctx: CoreContext,
  content: string,
  context: Record<string, unknown> = {},
  env: Record<string, string | undefined> = process.env,
): Promise<ApplyResult> {
  const blueprint = parseBlueprint(content);
  const applied = await ctx.store.db.transaction().execute(async (db) => {
    const result: ApplyResult = {
      blueprint,
      created: 0,
      updated: 0,
      deleted: 0,
      unchanged: 0,
      logs: [],
      models: [],
    };
    const ids = new Map<string, Pk>();
    const resolver = new Resolver(db, ids, { ...blueprint.context, ...context }, env);
    for (const [index, entry] of blueprint.entries.entries()) {
      try {
        await applyEntry(ctx, db, entry, resolver, ids, result);
      } catch (err) {
        const where = `entry ${index + 1} (${entry.model}${entry.id ? `, id ${entry.id}` : ""})`;
        if (isGatehouseError(err) && err.fields) {
          const detail = Object.entries(err.fields)
            .map(([field, messages]) => `${field}: ${messages.join(" ")}`)
            .join("; ");
          throw validationError("BP0020EntryFailed", { content: [`${where}: ${detail}`] });
        }
        throw new GatehouseError(`${where}: ${(err as Error).message}`, {
          status: 400,
          code: "BP0021EntryFailed",
          cause: err,
        });
      }
    }
    return result;
  });
  // Applications (an OAuth2 provider's issuer and discovery document) may have changed.
  if (applied.created + applied.updated + applied.deleted > 0) oauth2Changed(ctx);
  return applied;
}

async function applyEntry(
  ctx: CoreContext,
  db: Db,
  entry: BlueprintEntry,
  resolver: Resolver,
  ids: Map<string, Pk>,
  result: ApplyResult,
): Promise<void> {
  if (META_MODELS.has(entry.model)) {
    result.logs.push(`skipped ${entry.model}: Gatehouse applies each blueprint on its own`);
    return;
  }
  const conditions = (await resolver.resolve(entry.conditions)) as unknown[];
  if (conditions.some((c) => !c)) {
    result.logs.push(`skipped ${entry.model}: conditions not met`);
    return;
  }
  const handler = modelHandler(entry.model);
  if (!handler) throw new Error(`model ${entry.model} is not supported by Gatehouse`);
  if (!result.models.includes(entry.model)) result.models.push(entry.model);
  const identifiers = (await resolver.resolve(entry.identifiers)) as Record<string, unknown>;
  const attrs = (await resolver.resolve(entry.attrs)) as Record<string, unknown>;
  const existing = await handler.find(db, identifiers);

  let pk = existing;
  switch (entry.state) {
    case "absent":
      if (existing !== undefined) {
        await handler.remove(ctx, db, existing);
        result.deleted++;
      } else {
        result.unchanged++;
      }
      return;
    case "must_created":
      if (existing !== undefined)
        throw new Error("the object already exists and the entry says must_created");
      pk = await handler.create(ctx, db, { ...attrs, ...identifiers });
      result.created++;
      break;
    case "created":
      if (existing === undefined) {
        pk = await handler.create(ctx, db, { ...attrs, ...identifiers });
        result.created++;
      } else {
        result.unchanged++;
      }
      break;
    default:
      if (existing === undefined) {
        pk = await handler.create(ctx, db, { ...attrs, ...identifiers });
        result.created++;
      } else if (Object.keys(attrs).length > 0) {
        await handler.update(ctx, db, existing, attrs);
        result.updated++;
      } else {
        result.unchanged++;
      }
  }
  if (entry.id && pk !== undefined) ids.set(entry.id, pk);
}

class Resolver {
  constructor(
    private readonly db: Db,
    private readonly ids: Map<string, Pk>,
    private readonly context: Record<string, unknown>,
    private readonly env: Record<string, string | undefined>,
  ) {}

  async resolve(value: unknown): Promise<unknown> {
    if (value instanceof Tag) return this.tag(value);
    if (Array.isArray(value)) return Promise.all(value.map((v) => this.resolve(v)));
    if (value && typeof value === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = await this.resolve(v);
      return out;
    }
    return value;
  }

  private async tag(tag: Tag): Promise<unknown> {
    const args = await this.resolve(tag.args);
    const list = Array.isArray(args) ? args : [args];
    switch (tag.name) {
      case "!KeyOf": {
        const pk = this.ids.get(String(args));
        if (pk === undefined) throw new Error(`!KeyOf ${String(args)}: no earlier entry has that id`);
        return pk;
      }
      case "!Find": {
        const [model, ...pairs] = list;
        const handler = modelHandler(String(model));
        if (!handler) throw new Error(`!Find: model ${String(model)} is not supported by Gatehouse`);
        const identifiers: Record<string, unknown> = {};
        for (const pair of pairs) {
          if (!Array.isArray(pair) || pair.length !== 2)
            throw new Error("!Find takes [model, [field, value], …]");
          identifiers[String(pair[0])] = pair[1];
        }
        return (await handler.find(this.db, identifiers)) ?? null;
      }
      case "!Env": {
        const [name, fallback = null] = list;
        return this.env[String(name)] ?? fallback;
      }
      case "!Context": {
        const [key, fallback = null] = list;
        return this.context[String(key)] ?? fallback;
      }
      case "!Format": {
        const [format, ...values] = list;
        let i = 0;
        return String(format).replace(/%[sd]/g, () => String(values[i++] ?? ""));
      }
      case "!If": {
        const [condition, then = true, otherwise = false] = list;
        return condition ? then : otherwise;
      }
    }
  }
}
