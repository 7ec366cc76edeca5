/**
 * The executor's core: advances a plan through its stages for one GET or POST and says what to answer.
 * authentik's semantics: GET shows the current stage's challenge (finishing stages that need no input),
 * a successful POST answers 302 back to the executor, and the end is an `xak-flow-redirect`.
 */
import type { Selectable } from "kysely";
import { randomSecret, sha256Hex } from "../../../../shared/crypto.ts";
import type { CoreContext } from "../../context.ts";
import { recordEventSafely } from "../../events/service.ts";
import { evaluateTarget, type PolicyEngineMode } from "../../policies/engine.ts";
import { endSessions } from "../../sessions/service.ts";
import { stageKind } from "../../stages/kinds.ts";
import type {
  Challenge,
  FlowPlan,
  FlowRow,
  HttpFacts,
  Outcome,
  SessionChanges,
  StageRun,
} from "../../stages/types.ts";
import { fromJson, toBool } from "../../store/codec.ts";
import type { FlowStageBindingsTable } from "../../store/database.ts";
import type { UserRow } from "../../users/serialize.ts";
import { findUser } from "../../users/service.ts";
import {
  accessDenied,
  flowError,
  formatTitle,
  redirectChallenge,
  safeNext,
  withFlowInfo,
} from "./challenges.ts";
import { type FinishAnswer, type FinishRun, finisherOf } from "./finishers.ts";
import { consumeFlowToken } from "./flow-tokens.ts";
import { planFlow } from "./planner.ts";
import type { FlowSession } from "./session.ts";
import { deletePlan, loadPlan, savePlan } from "./state.ts";

export interface ExecutorRequest {
  flow: FlowRow;
  session: FlowSession;
  http: HttpFacts;
  isOutpost: boolean;
  /** authentik's `query`: the query string the flow was started with. */
  query: string;
  requestId: string;
}

export interface ExecutorAnswer {
  /** 200 with a challenge, or 302 back to the executor. */
  status: 200 | 302;
  body?: Record<string, unknown>;
  /** The session id the cookie must carry from now on (set when it changed or is new). */
  sessionId: string;
  sessionChanged: boolean;
  persistentFor?: number;
}

type Binding = Selectable<FlowStageBindingsTable>;

/** Plan entries "stage:<uuid>" run a stage that is not bound to the flow (e.g. authenticator setup). */
const INLINE = "stage:";

function inlineBinding(entry: string, flow: string): Binding {
  return {
    fsb_uuid: entry,
    target: flow,
    stage: entry.slice(INLINE.length),
    order: 0,
    evaluate_on_plan: false,
    re_evaluate_policies: false,
    policy_engine_mode: "any",
    invalid_response_action: "retry",
  };
}

class FlowRun {
  private sessionId: string;
  private changed: boolean;
  private persistentFor: number | undefined;
  private pending: UserRow | undefined | null = null;

  constructor(
    private readonly ctx: CoreContext,
    private readonly req: ExecutorRequest,
    private plan: FlowPlan,
  ) {
    this.sessionId = req.session.id;
    this.changed = req.session.fresh;
  }

  answer(status: 200 | 302, body?: Record<string, unknown>): ExecutorAnswer {
    const info = body?.flow_info as { title?: string } | undefined;
    if (info?.title?.includes("%("))
      body = {
        ...body,
        flow_info: {
          ...info,
          title: formatTitle(info.title, {
            app: (this.plan.context.application as { name?: string } | undefined)?.name ?? "",
            user: (this.pending ?? this.req.session.user)?.username ?? "",
          }),
        },
      };
    return {
      status,
      ...(body && { body }),
      sessionId: this.sessionId,
      sessionChanged: this.changed,
      ...(this.persistentFor !== undefined && { persistentFor: this.persistentFor }),
    };
  }

  /** The binding at the plan's index (skipping ones deleted since planning), with policies re-checked. */
  async current(): Promise<
    | {
        binding: Binding;
        stage: { uuid: string; name: string; kind: string; config: Record<string, unknown> };
      }
    | undefined
  > {
    const db = this.ctx.store.db;
    while (this.plan.index < this.plan.bindings.length) {
      const uuid = this.plan.bindings[this.plan.index] as string;
      const binding = uuid.startsWith(INLINE)
        ? inlineBinding(uuid, this.plan.flow)
        : await db
            .selectFrom("flow_stage_bindings")
            .selectAll()
            .where("fsb_uuid", "=", uuid)
            .executeTakeFirst();
      const stage =
        binding &&
        (await db
          .selectFrom("stages")
          .selectAll()
          .where("stage_uuid", "=", binding.stage)
          .executeTakeFirst());
      if (binding && stage) {
        if (toBool(binding.re_evaluate_policies) && !toBool(binding.evaluate_on_plan)) {
          const result = await evaluateTarget(
            this.ctx,
            db,
            binding.fsb_uuid,
            binding.policy_engine_mode as PolicyEngineMode,
            {
              user: (await this.pendingUser()) ?? this.req.session.user,
              http: this.req.http,
              context: this.plan.context,
            },
          );
          if (!result.passing) {
            this.plan.index++;
            continue;
          }
        }
        return {
          binding,
          stage: {
            uuid: stage.stage_uuid,
            name: stage.name,
            kind: stage.kind,
            config: fromJson(stage.config),
          },
        };
      }
      this.plan.index++;
    }
    return undefined;
  }

  async pendingUser(): Promise<UserRow | undefined> {
    if (this.pending === null) {
      const id = this.plan.context.pending_user;
      this.pending = id === undefined ? undefined : await findUser(this.ctx.store.db, id);
    }
    return this.pending;
  }

  stageRun(
    stage: { uuid: string; name: string; config: Record<string, unknown> },
    session: SessionChanges,
  ): StageRun {
    return {
      ctx: this.ctx,
      flow: this.req.flow,
      stage,
      plan: this.plan,
      http: this.req.http,
      sessionUser: this.req.session.user,
      pendingUser: () => {
        this.pending = null;
        return this.pendingUser();
      },
      session,
    };
  }

  /** Applies a stage's session changes: a new id after login or logout; the plan follows the new id. */
  async applySession(changes: SessionChanges): Promise<void> {
    const db = this.ctx.store.db;
    if (changes.logout || changes.login) {
      await deletePlan(db, this.sessionId, this.req.flow.slug);
      if (changes.logout) await endSessions(this.ctx, db, { hash: sha256Hex(this.sessionId) });
    }
    if (changes.login) {
      await endSessions(this.ctx, db, { hash: sha256Hex(this.sessionId) });
      this.sessionId = changes.login.id;
      this.changed = true;
      if (changes.login.persistent) this.persistentFor = changes.login.maxAgeSeconds;
    } else if (changes.logout) {
      this.sessionId = randomSecret();
      this.changed = true;
    }
  }

  private finishRun(): FinishRun {
    return {
      ctx: this.ctx,
      flow: this.req.flow,
      plan: this.plan,
      sessionId: this.sessionId,
      http: this.req.http,
    };
  }

  private async finishWith(answer: FinishAnswer): Promise<ExecutorAnswer> {
    await deletePlan(this.ctx.store.db, this.sessionId, this.req.flow.slug);
    return this.answer(
      200,
      "redirect" in answer
        ? redirectChallenge(this.req.flow, answer.redirect)
        : withFlowInfo(this.req.flow, answer.challenge),
    );
  }

  async finish(): Promise<ExecutorAnswer> {
    const finisher = finisherOf(this.plan);
    if (finisher) return this.finishWith(await finisher.finish(this.finishRun()));
    await deletePlan(this.ctx.store.db, this.sessionId, this.req.flow.slug);
    const next = safeNext(new URLSearchParams(this.plan.context.query ?? "").get("next"));
    return this.answer(200, redirectChallenge(this.req.flow, next ?? "/"));
  }

  async deny(message: string): Promise<ExecutorAnswer> {
    await deletePlan(this.ctx.store.db, this.sessionId, this.req.flow.slug);
    return this.answer(200, accessDenied(this.req.flow, message, await this.pendingUser()));
  }

  async save(): Promise<void> {
    await savePlan(this.ctx, this.sessionId, this.req.flow.slug, this.plan);
  }

  /** GET: run stages until one needs the user, or the flow ends. */
  async show(): Promise<ExecutorAnswer> {
    // A plan made only to tell the user no (the authorization endpoint's access denied).
    const denied = this.plan.context.deny_message;
    if (typeof denied === "string") return this.deny(denied);
    for (;;) {
      const at = await this.current();
      if (!at) return this.finish();
      const kind = stageKind(at.stage.kind);
      if (!kind) throw new Error(`stage ${at.stage.name} has unknown type ${at.stage.kind}`);
      const session: SessionChanges = {};
      const outcome = await kind.challenge(this.stageRun(at.stage, session));
      await this.applySession(session);
      if (outcome.kind === "next") {
        this.plan.index++;
        continue;
      }
      if (outcome.kind === "challenge") {
        const instead = await finisherOf(this.plan)?.interrupted?.(this.finishRun(), at.stage.kind);
        if (instead) return this.finishWith(instead);
      }
      return this.settle(outcome, at.binding);
    }
  }

  /** POST: hand the response to the current stage. */
  async submit(response: Record<string, unknown>): Promise<ExecutorAnswer> {
    const at = await this.current();
    if (!at) return this.finish();
    const kind = stageKind(at.stage.kind);
    if (!kind) throw new Error(`stage ${at.stage.name} has unknown type ${at.stage.kind}`);
    const session: SessionChanges = {};
    const outcome = await kind.respond(this.stageRun(at.stage, session), response);
    await this.applySession(session);
    if (outcome.kind === "next") {
      this.plan.index++;
      await this.save();
      return this.answer(302);
    }
    return this.settle(outcome, at.binding);
  }

  private async settle(
    outcome: Exclude<Outcome, { kind: "next" }>,
    binding: Binding,
  ): Promise<ExecutorAnswer> {
    if (outcome.kind === "deny") return this.deny(outcome.message);
    if (outcome.kind === "invalid" && binding.invalid_response_action !== "retry") {
      const keep = binding.invalid_response_action === "restart_with_context";
      this.plan = {
        ...this.plan,
        index: 0,
        context: keep ? this.plan.context : { query: this.plan.context.query },
      };
      await this.save();
      return this.answer(302);
    }
    await this.save();
    return this.answer(200, withFlowInfo(this.req.flow, outcome.challenge as Challenge));
  }
}

export async function execute(
  ctx: CoreContext,
  req: ExecutorRequest,
  response?: Record<string, unknown>,
): Promise<ExecutorAnswer> {
  const { flow, session } = req;
  let plan = session.fresh ? undefined : await loadPlan(ctx, session.id, flow.slug);
  const flowToken = new URLSearchParams(req.query).get("flow_token");
  if (flowToken) {
    // An emailed link: its saved plan replaces whatever this browser had, once.
    const saved = await consumeFlowToken(ctx, flow.slug, flowToken);
    if (!saved) {
      return {
        status: 200,
        body: accessDenied(flow, "This link is invalid, used or expired.", session.user),
        sessionId: session.id,
        sessionChanged: session.fresh,
      };
    }
    const query = new URLSearchParams(req.query);
    query.delete("flow_token");
    plan = { ...saved, context: { ...saved.context, query: query.toString() } };
    await savePlan(ctx, session.id, flow.slug, plan);
    req = { ...req, query: query.toString() };
  }
  if (!plan) {
    const planned = await planFlow(ctx, flow, session.user, req.http, {
      query: req.query,
      is_outpost: req.isOutpost,
    });
    if ("denied" in planned) {
      return {
        status: 200,
        body: accessDenied(flow, planned.denied, session.user),
        sessionId: session.id,
        sessionChanged: session.fresh,
      };
    }
    plan = planned.plan;
  }
  const run = new FlowRun(ctx, req, plan);
  try {
    return response === undefined ? await run.show() : await run.submit(response);
  } catch (err) {
    ctx.log.error("flow failed", {
      code: "FL0002FlowError",
      flow: flow.slug,
      request_id: req.requestId,
      error: err,
    });
    await recordEventSafely(ctx, {
      action: "configuration_error",
      clientIp: req.http.ip,
      context: { message: (err as Error).message, flow: flow.slug, request_id: req.requestId },
    });
    await deletePlan(ctx.store.db, session.id, flow.slug);
    return run.answer(200, flowError(flow, req.requestId));
  }
}
