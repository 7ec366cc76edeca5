/** The stage types Gatehouse knows, by authentik model name. */
import { authenticatorStaticStage } from "./authenticator-static.ts";
import { authenticatorTotpStage } from "./authenticator-totp.ts";
import { authenticatorValidateStage } from "./authenticator-validate.ts";
import { denyStage } from "./deny.ts";
import { dummyStage } from "./dummy.ts";
import { identificationStage } from "./identification.ts";
import { passwordStage } from "./password.ts";
import type { StageKind } from "./types.ts";
import { userLoginStage } from "./user-login.ts";
import { userLogoutStage } from "./user-logout.ts";

export const STAGE_KINDS: readonly StageKind[] = [
  identificationStage,
  passwordStage,
  authenticatorValidateStage,
  authenticatorTotpStage,
  authenticatorStaticStage,
  userLoginStage,
  userLogoutStage,
  denyStage,
  dummyStage,
];

const byModel = new Map(STAGE_KINDS.map((k) => [k.model, k]));

export function stageKind(model: string): StageKind | undefined {
  return byModel.get(model);
}
