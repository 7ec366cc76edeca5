/**
 * The policy engine: the enabled bindings of a target, in order, each a policy, a group membership or a
 * user match; `negate` flips a result; the mode combines them (all/any); no bindings pass.
 * A policy that throws or outlives its binding's timeout yields the binding's failure_result and a
 * policy_exception event.
 */
import type { Selectable } from "kysely";
import type { CoreContext, Db } from "../context.ts";
import { recordEventSafely } from "../events/service.ts";
import { ancestorIds } from "../groups/membership.ts";
import { fromJson, toBool } from "../store/codec.ts";
import type { PolicyBindingsTable } from "../store/database.ts";
import type { UserRow } from "../users/serialize.ts";
import { policyKind } from "./kinds.ts";
import type { PolicyRequest, PolicyResult } from "./types.ts";

export type PolicyEngineMode = "all" | "any";
type BindingRow = Selectable<PolicyBindingsTable>;

export async function evaluateTarget(
  ctx: CoreContext,
  db: Db,
  target: string,
  mode: PolicyEngineMode,
  request: PolicyRequest,
): Promise<PolicyResult> {
  const bindings = await db
    .selectFrom("policy_bindings")
    .selectAll()
    .where("target", "=", target)
    .orderBy("order")
    .execute();
  const enabled = bindings.filter((b) => toBool(b.enabled));
  if (enabled.length === 0) return { passing: true, messages: [] };
  const userGroups = request.user ? await groupsWithAncestors(db, request.user) : new Set<number>();
  const results: PolicyResult[] = [];
  for (const binding of enabled) {
    const raw = await evaluateBinding(ctx, db, binding, request, userGroups);
    const result = toBool(binding.negate) ? { ...raw, passing: !raw.passing } : raw;
    results.push(result);
    // Short-circuit where the outcome can no longer change.
    if (mode === "all" && !result.passing) break;
    if (mode === "any" && result.passing) break;
  }
  const passing = mode === "all" ? results.every((r) => r.passing) : results.some((r) => r.passing);
  return { passing, messages: results.flatMap((r) => r.messages) };
}

async function groupsWithAncestors(db: Db, user: UserRow): Promise<Set<number>> {
  const direct = await db
    .selectFrom("group_members")
    .select("group_id")
    .where("user_id", "=", user.id)
    .execute();
  return ancestorIds(
    db,
    direct.map((r) => r.group_id),
  );
}

async function evaluateBinding(
  ctx: CoreContext,
  db: Db,
  binding: BindingRow,
  request: PolicyRequest,
  userGroups: Set<number>,
): Promise<PolicyResult> {
  if (binding.group_id !== null) return { passing: userGroups.has(binding.group_id), messages: [] };
  if (binding.user_id !== null) return { passing: request.user?.id === binding.user_id, messages: [] };
  if (binding.policy === null) return { passing: toBool(binding.failure_result), messages: [] };
  return runPolicy(ctx, db, binding.policy, request, {
    timeoutMs: Math.max(1, binding.timeout) * 1000,
    failureResult: toBool(binding.failure_result),
    binding: binding.policy_binding_uuid,
  });
}

/**
 * Runs one policy. A policy that throws or outlives the timeout yields `failureResult` and a
 * policy_exception event.
 */
export async function runPolicy(
  ctx: CoreContext,
  db: Db,
  policyUuid: string,
  request: PolicyRequest,
  options: { timeoutMs: number; failureResult: boolean; binding?: string },
): Promise<PolicyResult> {
  const policy = await db
    .selectFrom("policies")
    .selectAll()
    .where("policy_uuid", "=", policyUuid)
    .executeTakeFirst();
  if (!policy) return { passing: options.failureResult, messages: [] };
  const kind = policyKind(policy.kind);
  try {
    if (!kind) throw new Error(`unknown policy type ${policy.kind}`);
    return await withTimeout(kind.evaluate(ctx, fromJson(policy.config), request), options.timeoutMs);
  } catch (err) {
    await recordEventSafely(ctx, {
      action: "policy_exception",
      user: request.user && {
        pk: request.user.id,
        username: request.user.username,
        email: request.user.email,
      },
      clientIp: request.http.ip,
      context: {
        message: (err as Error).message,
        policy: { pk: policy.policy_uuid, name: policy.name, kind: policy.kind },
        ...(options.binding && { binding: options.binding }),
      },
    });
    return { passing: options.failureResult, messages: [] };
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`policy timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
