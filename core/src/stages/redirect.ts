/** Redirect: sends the browser to a fixed URL or into another flow. */
import { Type as t } from "@sinclair/typebox";
import type { Outcome, StageKind, StageRun } from "./types.ts";

async function redirect(run: StageRun): Promise<Outcome> {
  const config = run.stage.config;
  if (config.mode === "flow") {
    const flow = config.target_flow
      ? await run.ctx.store.db
          .selectFrom("flows")
          .select("slug")
          .where("flow_uuid", "=", String(config.target_flow))
          .executeTakeFirst()
      : undefined;
    if (!flow) return { kind: "deny", message: "The redirect stage's target flow is missing." };
    return {
      kind: "challenge",
      challenge: { component: "xak-flow-redirect", to: `/if/flow/${encodeURIComponent(flow.slug)}/` },
    };
  }
  return {
    kind: "challenge",
    challenge: { component: "xak-flow-redirect", to: String(config.target_static ?? "/") },
  };
}

export const redirectStage: StageKind = {
  model: "redirectstage",
  apiName: "redirect",
  verboseName: "Redirect Stage",
  component: "ak-stage-redirect-form",
  config: t.Object({
    keep_context: t.Optional(t.Boolean()),
    mode: t.Union([t.Literal("static"), t.Literal("flow")]),
    target_static: t.Optional(t.String({ maxLength: 2000, pattern: "^(https?://|/)" })),
    target_flow: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
  }),
  defaults: { keep_context: true, mode: "static", target_static: "", target_flow: null },
  challenge: redirect,
  respond: redirect,
};
