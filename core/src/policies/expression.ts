/**
 * Expression policy: a CEL expression (safe, non-Turing-complete) that must evaluate to a boolean.
 * It sees `request.user` (with `groups`, including inherited ones), `request.http_request` and
 * `request.context`, plus `ak_is_group_member(request.user, "name")`. Compiled plans are cached.
 */
import type { plan } from "@bufbuild/cel";
import { Type as t } from "@sinclair/typebox";
import { validationError } from "../../../shared/errors.ts";
import type { Db } from "../context.ts";
import { ancestorIds } from "../groups/membership.ts";
import { fromJson, toBool } from "../store/codec.ts";
import type { UserRow } from "../users/serialize.ts";
import type { PolicyKind, PolicyRequest } from "./types.ts";

export const MAX_EXPRESSION_LENGTH = 10_000;
const CACHE_SIZE = 500;

type Program = ReturnType<typeof plan>;
const cache = new Map<string, Program>();

/**
 * The CEL evaluator is loaded on first use: it (with its protobuf runtime) is the largest module in the
 * core, and most installations never write an expression policy.
 */
let cel:
  | Promise<{ compile(expression: string): Program; isError(value: unknown): value is { message: string } }>
  | undefined;
function loadCel() {
  cel ??= (async () => {
    const { CelScalar, celEnv, celFunc, isCelError, isCelList, isCelMap, parse, plan } = await import(
      "@bufbuild/cel"
    );
    const { strings } = await import("@bufbuild/cel/ext");
    const isGroupMember = celFunc(
      "ak_is_group_member",
      [CelScalar.DYN, CelScalar.STRING],
      CelScalar.BOOL,
      (user, name) => {
        if (!isCelMap(user)) return false;
        const groups = user.get("groups");
        if (!isCelList(groups)) return false;
        for (const g of groups) if (g === name) return true;
        return false;
      },
    );
    const env = celEnv({ funcs: [...strings, isGroupMember] });
    return { compile: (expression: string) => plan(env, parse(expression)), isError: isCelError };
  })();
  return cel;
}

/** Parses and plans an expression, or throws a 400 naming what is wrong with it. */
export async function compileExpression(expression: string): Promise<Program> {
  const cached = cache.get(expression);
  if (cached) return cached;
  if (expression.length > MAX_EXPRESSION_LENGTH) {
    throw validationError("PX0001TooLong", {
      expression: [`Expressions are limited to ${MAX_EXPRESSION_LENGTH} characters.`],
    });
  }
  const { compile } = await loadCel();
  let program: Program;
  try {
    program = compile(expression);
  } catch (err) {
    throw validationError("PX0002Syntax", {
      expression: [`Invalid CEL expression: ${(err as Error).message}`],
    });
  }
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  cache.set(expression, program);
  return program;
}

/** The user as an expression sees it. */
export async function celUser(db: Db, user: UserRow | undefined): Promise<Record<string, unknown> | null> {
  if (!user) return null;
  const direct = await db
    .selectFrom("group_members")
    .select("group_id")
    .where("user_id", "=", user.id)
    .execute();
  const all = await ancestorIds(
    db,
    direct.map((d) => d.group_id),
  );
  const groups = all.size
    ? await db
        .selectFrom("groups")
        .select(["name", "is_superuser"])
        .where("num_pk", "in", [...all])
        .execute()
    : [];
  return {
    pk: BigInt(user.id),
    username: user.username,
    name: user.name,
    email: user.email,
    is_active: toBool(user.is_active),
    is_superuser: groups.some((g) => toBool(g.is_superuser)),
    type: user.type,
    path: user.path,
    attributes: jsonSafe(fromJson(user.attributes)),
    groups: groups.map((g) => g.name).sort(),
  };
}

/** JSON values as CEL inputs: whole numbers become ints so `x == 1` works as written. */
function jsonSafe(value: unknown): unknown {
  if (typeof value === "number") return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonSafe(v)]));
  return value;
}

export async function evaluateExpression(
  db: Db,
  expression: string,
  request: PolicyRequest,
): Promise<boolean> {
  const program = await compileExpression(expression);
  const { isError } = await loadCel();
  const activation = {
    request: {
      user: await celUser(db, request.user),
      http_request: {
        client_ip: request.http.ip ?? "",
        user_agent: request.http.userAgent,
        path: request.http.path,
      },
      context: jsonSafe(request.context),
    },
  };
  const result = program(activation as never);
  if (isError(result)) throw new Error(`expression failed: ${result.message}`);
  if (typeof result !== "boolean") throw new Error(`expression must return a boolean, got ${typeof result}`);
  return result;
}

export const expressionPolicy: PolicyKind = {
  model: "expressionpolicy",
  apiName: "expression",
  verboseName: "Expression Policy",
  component: "ak-policy-expression-form",
  config: t.Object({ expression: t.String({ minLength: 1, maxLength: MAX_EXPRESSION_LENGTH }) }),
  defaults: { expression: "true" },
  async validate(config) {
    if (typeof config.expression === "string") await compileExpression(config.expression);
  },
  async evaluate(ctx, config, request) {
    const passing = await evaluateExpression(ctx.store.db, String(config.expression), request);
    return { passing, messages: passing ? [] : ["Access denied by policy."] };
  },
};
