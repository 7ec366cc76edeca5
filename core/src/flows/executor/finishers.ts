/**
 * What a flow does when it ends, when something other than "go to `next`" must happen: the OAuth2
 * authorization endpoint plans its provider's authorization flow with a finisher that issues the code
 * and sends the browser back to the client (authentik's in-memory OAuthFulfillmentStage). A finisher
 * may also answer instead of a stage that wants the user's input, for `prompt=none`.
 */
import type { CoreContext } from "../../context.ts";
import type { Challenge, FlowPlan, FlowRow, HttpFacts } from "../../stages/types.ts";

export interface FinishRun {
  ctx: CoreContext;
  flow: FlowRow;
  plan: FlowPlan;
  /** The browser's session id (after any login in the flow). */
  sessionId: string;
  http: HttpFacts;
}

export type FinishAnswer = { redirect: string } | { challenge: Challenge };

export interface Finisher {
  finish(run: FinishRun): Promise<FinishAnswer>;
  /** A stage of the given kind wants input the flow may not ask for; answer this instead, if anything. */
  interrupted?(run: FinishRun, stageKind: string): Promise<FinishAnswer | undefined>;
}

/** The plan context key naming the finisher. */
export const FINISHER = "finisher";

const finishers = new Map<string, Finisher>();

export function registerFinisher(name: string, finisher: Finisher): void {
  finishers.set(name, finisher);
}

export function finisherOf(plan: FlowPlan): Finisher | undefined {
  const name = plan.context[FINISHER];
  return typeof name === "string" ? finishers.get(name) : undefined;
}
