/** Deny: ends the flow with access denied and the configured message. */
import { Type as t } from "@sinclair/typebox";
import type { StageKind, StageRun } from "./types.ts";

const deny = async (run: StageRun) => ({
  kind: "deny" as const,
  message: String(run.stage.config.deny_message || "Access denied"),
});

export const denyStage: StageKind = {
  model: "denystage",
  apiName: "deny",
  verboseName: "Deny Stage",
  component: "ak-stage-deny-form",
  config: t.Object({ deny_message: t.Optional(t.String({ maxLength: 1000 })) }),
  defaults: { deny_message: "" },
  challenge: deny,
  respond: deny,
};
