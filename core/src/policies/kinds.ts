/** The policy types Gatehouse knows, by authentik model name. */
import { dummyPolicy } from "./dummy.ts";
import { eventMatcherPolicy } from "./event-matcher.ts";
import { expiryPolicy } from "./expiry.ts";
import { expressionPolicy } from "./expression.ts";
import { passwordPolicy } from "./password.ts";
import { reputationPolicy } from "./reputation.ts";
import type { PolicyKind } from "./types.ts";

export const POLICY_KINDS: readonly PolicyKind[] = [
  dummyPolicy,
  expressionPolicy,
  passwordPolicy,
  reputationPolicy,
  expiryPolicy,
  eventMatcherPolicy,
];

const byModel = new Map(POLICY_KINDS.map((k) => [k.model, k]));

export function policyKind(model: string): PolicyKind | undefined {
  return byModel.get(model);
}
