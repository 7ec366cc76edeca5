/**
 * Identification: finds the user by username and/or email (optionally with the password in the same
 * challenge). Unknown users and wrong passwords read the same and cost the same: no enumeration.
 */
import { Type as t } from "@sinclair/typebox";
import { sql } from "kysely";
import { checkPassword, INBUILT_BACKEND, TOKEN_BACKEND } from "../auth/password.ts";
import { brandForHost } from "../brands/service.ts";
import { fromJson, toBool } from "../store/codec.ts";
import type { UserRow } from "../users/serialize.ts";
import { initialsAvatar } from "../users/serialize.ts";
import { loginFailed } from "./login-outcome.ts";
import { fieldError, noteAmr, type StageKind, type StageRun } from "./types.ts";

const USER_FIELDS = ["email", "username", "upn"] as const;

export const identificationStage: StageKind = {
  model: "identificationstage",
  apiName: "identification",
  verboseName: "Identification Stage",
  component: "ak-stage-identification-form",
  config: t.Object({
    user_fields: t.Optional(t.Array(t.Union(USER_FIELDS.map((f) => t.Literal(f))))),
    password_stage: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
    captcha_stage: t.Optional(t.Null()),
    case_insensitive_matching: t.Optional(t.Boolean()),
    show_matched_user: t.Optional(t.Boolean()),
    enrollment_flow: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
    recovery_flow: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
    passwordless_flow: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
    sources: t.Optional(t.Array(t.String({ format: "uuid" }))),
    show_source_labels: t.Optional(t.Boolean()),
    pretend_user_exists: t.Optional(t.Boolean()),
    enable_remember_me: t.Optional(t.Boolean()),
    webauthn_stage: t.Optional(t.Null()),
  }),
  defaults: {
    user_fields: ["email", "username"],
    password_stage: null,
    captcha_stage: null,
    case_insensitive_matching: true,
    show_matched_user: true,
    enrollment_flow: null,
    recovery_flow: null,
    passwordless_flow: null,
    sources: [],
    show_source_labels: false,
    pretend_user_exists: true,
    enable_remember_me: false,
    webauthn_stage: null,
  },

  async challenge(run) {
    return { kind: "challenge", challenge: await identificationChallenge(run) };
  },

  async respond(run, response) {
    const uid = typeof response.uid_field === "string" ? response.uid_field.trim() : "";
    if (!uid) {
      return {
        kind: "invalid",
        challenge: {
          ...(await identificationChallenge(run)),
          response_errors: fieldError("uid_field", "This field is required.", "required"),
        },
      };
    }
    const config = run.stage.config;
    const user = await findUser(run, uid);
    const passwordStage = config.password_stage as string | null;
    if (passwordStage) {
      const password = typeof response.password === "string" ? response.password : "";
      const backends = await passwordBackends(run, passwordStage);
      const method = await checkPassword(run.ctx.store.db, user, password, backends, run.ctx.clock());
      if (!method) return failed(run, uid, user);
      run.plan.context.auth_method = method;
      noteAmr(run.plan.context, "pwd");
    } else if (!user) {
      if (!config.pretend_user_exists) return failed(run, uid, undefined);
      // Carry on as if the user existed; the next stage fails the same way it would for a wrong password.
      run.plan.context.pending_user_identifier = uid;
      delete run.plan.context.pending_user;
      return { kind: "next" };
    }
    if (!user) return failed(run, uid, undefined);
    run.plan.context.pending_user = user.id;
    delete run.plan.context.pending_user_identifier;
    return { kind: "next" };
  },
};

/** Links shown under the form: the stage's own flows, else the brand's recovery flow. */
async function flowLinks(run: StageRun): Promise<Record<string, string>> {
  const db = run.ctx.store.db;
  const slugOf = async (uuid: unknown) =>
    typeof uuid === "string"
      ? (await db.selectFrom("flows").select("slug").where("flow_uuid", "=", uuid).executeTakeFirst())?.slug
      : undefined;
  const config = run.stage.config;
  const brand = await brandForHost(db, new URL(run.http.origin).host);
  const recovery = (await slugOf(config.recovery_flow)) ?? (await slugOf(brand?.flow_recovery));
  const enroll = await slugOf(config.enrollment_flow);
  const url = (slug: string) => `/if/flow/${encodeURIComponent(slug)}/`;
  return { ...(recovery && { recovery_url: url(recovery) }), ...(enroll && { enroll_url: url(enroll) }) };
}

async function identificationChallenge(run: StageRun) {
  const config = run.stage.config;
  return {
    ...(await flowLinks(run)),
    component: "ak-stage-identification",
    user_fields: config.user_fields as string[],
    password_fields: Boolean(config.password_stage),
    allow_show_password: false,
    flow_designation: run.flow.designation,
    primary_action: run.flow.designation === "enrollment" ? "Continue" : "Log in",
    show_source_labels: Boolean(config.show_source_labels),
    sources: [],
    enable_remember_me: Boolean(config.enable_remember_me),
    pending_user_identifier: null,
  };
}

async function failed(run: StageRun, uid: string, user: UserRow | undefined) {
  await loginFailed(run, user, uid);
  return {
    kind: "invalid" as const,
    challenge: {
      ...(await identificationChallenge(run)),
      response_errors: fieldError("non_field_errors", "Failed to authenticate."),
    },
  };
}

async function findUser(run: StageRun, uid: string): Promise<UserRow | undefined> {
  const fields = (run.stage.config.user_fields as string[]).filter((f) => f === "username" || f === "email");
  if (fields.length === 0) return undefined;
  const insensitive = Boolean(run.stage.config.case_insensitive_matching);
  const db = run.ctx.store.db;
  const rows = await db
    .selectFrom("users")
    .selectAll()
    .where((eb) =>
      eb.or(
        fields.map((f) =>
          insensitive
            ? eb(sql`lower(${sql.ref(`users.${f}`)})`, "=", uid.toLowerCase())
            : eb(`users.${f as "username" | "email"}`, "=", uid),
        ),
      ),
    )
    .orderBy("users.id")
    .limit(2)
    .execute();
  // Two users sharing an email is ambiguous; prefer the exact username match, else refuse.
  const exact = rows.find((r) => r.username === uid);
  if (exact) return exact;
  return rows.length === 1 && toBool((rows[0] as UserRow).is_active) ? rows[0] : undefined;
}

async function passwordBackends(run: StageRun, stageUuid: string): Promise<string[]> {
  const row = await run.ctx.store.db
    .selectFrom("stages")
    .select("config")
    .where("stage_uuid", "=", stageUuid)
    .executeTakeFirst();
  const backends = row
    ? (fromJson<Record<string, unknown>>(row.config).backends as string[] | undefined)
    : undefined;
  return backends ?? [INBUILT_BACKEND, TOKEN_BACKEND];
}

export function avatarOf(user: UserRow | undefined, fallback: string): string {
  return initialsAvatar(user ? user.name || user.username : fallback);
}
