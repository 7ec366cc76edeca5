/** The stage types Gatehouse knows, by authentik model name. */
import { authenticatorStaticStage } from "./authenticator-static.ts";
import { authenticatorTotpStage } from "./authenticator-totp.ts";
import { authenticatorValidateStage } from "./authenticator-validate.ts";
import { authenticatorWebauthnStage } from "./authenticator-webauthn.ts";
import { consentStage } from "./consent.ts";
import { denyStage } from "./deny.ts";
import { dummyStage } from "./dummy.ts";
import { emailStage } from "./email.ts";
import { identificationStage } from "./identification.ts";
import { invitationStage } from "./invitation.ts";
import { passwordStage } from "./password.ts";
import { promptStage } from "./prompt.ts";
import { redirectStage } from "./redirect.ts";
import type { StageKind } from "./types.ts";
import { userLoginStage } from "./user-login.ts";
import { userLogoutStage } from "./user-logout.ts";
import { userWriteStage } from "./user-write.ts";

export const STAGE_KINDS: readonly StageKind[] = [
  identificationStage,
  passwordStage,
  authenticatorValidateStage,
  authenticatorTotpStage,
  authenticatorStaticStage,
  authenticatorWebauthnStage,
  userLoginStage,
  userLogoutStage,
  promptStage,
  userWriteStage,
  invitationStage,
  emailStage,
  consentStage,
  redirectStage,
  denyStage,
  dummyStage,
];

const byModel = new Map(STAGE_KINDS.map((k) => [k.model, k]));

export function stageKind(model: string): StageKind | undefined {
  return byModel.get(model);
}
