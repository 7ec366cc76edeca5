/**
 * Reads a blueprint's YAML into plain values, keeping authentik's custom tags (!KeyOf, !Find, !Env,
 * !Context, !Format, !If) as Tag nodes to be resolved while applying. An unknown tag is an error that
 * names it.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Node, parseDocument } from "yaml";
import { validationError } from "../../../shared/errors.ts";

export const TAGS = ["!KeyOf", "!Find", "!Env", "!Context", "!Format", "!If"] as const;
export type TagName = (typeof TAGS)[number];

export class Tag {
  constructor(
    readonly name: TagName,
    readonly args: unknown,
  ) {}
}

export interface BlueprintEntry {
  model: string;
  state: "present" | "created" | "must_created" | "absent";
  id?: string;
  identifiers: Record<string, unknown>;
  attrs: Record<string, unknown>;
  conditions: unknown[];
}

export interface Blueprint {
  version: number;
  metadata: { name: string; labels: Record<string, unknown> };
  context: Record<string, unknown>;
  entries: BlueprintEntry[];
}

const invalid = (message: string) => validationError("BP0001InvalidBlueprint", { content: [message] });

function convert(node: unknown): unknown {
  if (node === null || node === undefined) return null;
  if (isAlias(node)) throw invalid("YAML aliases are not supported in blueprints");
  const tag = (node as Node).tag;
  const plain = (): unknown => {
    if (isScalar(node)) return node.value;
    if (isSeq(node)) return node.items.map(convert);
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = convert(pair.key);
        out[String(key)] = convert(pair.value);
      }
      return out;
    }
    return null;
  };
  if (tag?.startsWith("!")) {
    if (!(TAGS as readonly string[]).includes(tag))
      throw invalid(`unsupported tag ${tag} (Gatehouse supports ${TAGS.join(", ")})`);
    return new Tag(tag as TagName, plain());
  }
  return plain();
}

export function parseBlueprint(content: string): Blueprint {
  const doc = parseDocument(content, { logLevel: "silent", uniqueKeys: true });
  const error = doc.errors[0];
  if (error) throw invalid(`YAML error at line ${error.linePos?.[0]?.line ?? "?"}: ${error.code}`);
  const root = convert(doc.contents);
  if (!root || typeof root !== "object" || Array.isArray(root) || root instanceof Tag)
    throw invalid("a blueprint is a mapping");
  const value = root as Record<string, unknown>;
  if (value.version !== 1)
    throw invalid(`unsupported blueprint version ${JSON.stringify(value.version)} (only 1)`);
  const metadata = (value.metadata ?? {}) as Record<string, unknown>;
  if (!Array.isArray(value.entries)) throw invalid("a blueprint needs a list of entries");
  const entries = value.entries.map((raw, i): BlueprintEntry => {
    if (!raw || typeof raw !== "object" || Array.isArray(raw) || raw instanceof Tag)
      throw invalid(`entry ${i + 1} is not a mapping`);
    const e = raw as Record<string, unknown>;
    if (typeof e.model !== "string") throw invalid(`entry ${i + 1} has no model`);
    const state = (e.state ?? "present") as BlueprintEntry["state"];
    if (!["present", "created", "must_created", "absent"].includes(state))
      throw invalid(`entry ${i + 1} has unknown state ${state}`);
    for (const key of Object.keys(e)) {
      if (!["model", "state", "id", "identifiers", "attrs", "conditions", "permissions"].includes(key)) {
        throw invalid(`entry ${i + 1} (${e.model}) has unknown key ${key}`);
      }
    }
    return {
      model: e.model,
      state,
      ...(typeof e.id === "string" && { id: e.id }),
      identifiers: (e.identifiers ?? {}) as Record<string, unknown>,
      attrs: (e.attrs ?? {}) as Record<string, unknown>,
      conditions: Array.isArray(e.conditions) ? e.conditions : [],
    };
  });
  return {
    version: 1,
    metadata: {
      name: String(metadata.name ?? ""),
      labels: (metadata.labels ?? {}) as Record<string, unknown>,
    },
    context: (value.context ?? {}) as Record<string, unknown>,
    entries,
  };
}
