/**
 * Consent: asks the user to allow the application in the plan (set by the authorization endpoint) the
 * listed permissions, and remembers the answer permanently or for a while, as configured.
 */
import { Type as t } from "@sinclair/typebox";
import { constantTimeEqual, randomSecret } from "../../../shared/crypto.ts";
import { parseTimedelta } from "../flows/timedelta.ts";
import { toIso } from "../store/codec.ts";
import { avatarOf } from "./identification.ts";
import { fieldError, type Outcome, type StageKind, type StageRun } from "./types.ts";

interface PlanApplication {
  slug: string;
  name: string;
}
interface Permission {
  id: string;
  name: string;
}

function application(run: StageRun): PlanApplication | undefined {
  const app = run.plan.context.application as PlanApplication | undefined;
  return app && typeof app.slug === "string" ? app : undefined;
}

const permissionsOf = (run: StageRun) =>
  (run.plan.context.consent_permissions as Permission[] | undefined) ?? [];
const permissionKey = (list: Permission[]) =>
  list
    .map((p) => p.id)
    .sort()
    .join(" ");

async function consentChallenge(run: StageRun, app: PlanApplication) {
  const user = await run.pendingUser();
  const token = (run.plan.context.consent_token as string | undefined) ?? randomSecret(16);
  run.plan.context.consent_token = token;
  return {
    component: "ak-stage-consent",
    pending_user: user?.username ?? "",
    pending_user_avatar: avatarOf(user, ""),
    header_text: `You're about to sign into ${app.name}.`,
    permissions: permissionsOf(run),
    additional_permissions: [],
    token,
  };
}

export const consentStage: StageKind = {
  model: "consentstage",
  apiName: "consent",
  verboseName: "Consent Stage",
  component: "ak-stage-consent-form",
  config: t.Object({
    mode: t.Optional(t.Union([t.Literal("always_require"), t.Literal("permanent"), t.Literal("expiring")])),
    consent_expire_in: t.Optional(t.String({ maxLength: 100 })),
  }),
  defaults: { mode: "always_require", consent_expire_in: "weeks=4" },

  async challenge(run): Promise<Outcome> {
    const app = application(run);
    const user = (await run.pendingUser()) ?? run.sessionUser;
    if (!app || !user) return { kind: "next" };
    // prompt=consent at the authorization endpoint asks again even when a consent is remembered.
    if (run.stage.config.mode !== "always_require" && run.plan.context.consent_force !== true) {
      const stored = await run.ctx.store.db
        .selectFrom("user_consents")
        .selectAll()
        .where("user_id", "=", user.id)
        .where("target", "=", app.slug)
        .executeTakeFirst();
      const live =
        stored && (stored.expires === null || toIso(stored.expires) > run.ctx.clock().toISOString());
      // A remembered consent covers the permissions it was given for, not new ones.
      const covered =
        live &&
        permissionKey(permissionsOf(run))
          .split(" ")
          .every((p) => !p || stored.permissions.split(" ").includes(p));
      if (covered) return { kind: "next" };
    }
    return { kind: "challenge", challenge: await consentChallenge(run, app) };
  },

  async respond(run, response): Promise<Outcome> {
    const app = application(run);
    const user = (await run.pendingUser()) ?? run.sessionUser;
    if (!app || !user) return { kind: "next" };
    const expected = run.plan.context.consent_token as string | undefined;
    if (!expected || typeof response.token !== "string" || !constantTimeEqual(response.token, expected)) {
      return {
        kind: "invalid",
        challenge: {
          ...(await consentChallenge(run, app)),
          response_errors: fieldError("token", "Invalid consent token."),
        },
      };
    }
    delete run.plan.context.consent_token;
    const mode = run.stage.config.mode;
    if (mode !== "always_require") {
      const seconds = parseTimedelta(String(run.stage.config.consent_expire_in ?? "weeks=4")) ?? 0;
      const expires =
        mode === "expiring" ? new Date(run.ctx.clock().getTime() + seconds * 1000).toISOString() : null;
      const values = { permissions: permissionKey(permissionsOf(run)), expires };
      await run.ctx.store.db
        .insertInto("user_consents")
        .values({ consent_uuid: crypto.randomUUID(), user_id: user.id, target: app.slug, ...values })
        .onConflict((oc) => oc.columns(["user_id", "target"]).doUpdateSet(values))
        .execute();
    }
    return { kind: "next" };
  },
};
