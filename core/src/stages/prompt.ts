/**
 * Prompt: asks for the configured fields, checks each by type (required, email, number, a repeated
 * password, a free username), runs the stage's validation policies on the answers, and keeps them in
 * the plan as `prompt_data` for later stages (user_write, policies).
 */
import { Type as t } from "@sinclair/typebox";
import { runPolicy } from "../policies/engine.ts";
import type { PromptRow } from "../prompts/service.ts";
import { toBool } from "../store/codec.ts";
import type { UserRow } from "../users/serialize.ts";
import type { ErrorDetail, ResponseErrors, StageKind, StageRun } from "./types.ts";

const NOT_INPUT = new Set(["separator", "static", "text_read_only", "text_area_read_only"]);
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

async function promptsOf(run: StageRun): Promise<PromptRow[]> {
  const ids = (run.stage.config.fields as string[]) ?? [];
  if (ids.length === 0) return [];
  const rows = await run.ctx.store.db
    .selectFrom("prompts")
    .selectAll()
    .where("prompt_uuid", "in", ids)
    .execute();
  return rows.sort((a, b) => a.order - b.order);
}

/** What a field starts with: its initial value, or the current user's own value for user fields. */
function initial(prompt: PromptRow, user: UserRow | undefined, data: Record<string, unknown>): string {
  const known = data[prompt.field_key];
  if (typeof known === "string" && prompt.type !== "password") return known;
  if (prompt.initial_value) return prompt.initial_value;
  if (user && ["username", "email", "name"].includes(prompt.field_key))
    return String(user[prompt.field_key as "username" | "email" | "name"]);
  return "";
}

async function promptChallenge(run: StageRun) {
  const user = run.sessionUser ?? (await run.pendingUser());
  const data = (run.plan.context.prompt_data as Record<string, unknown> | undefined) ?? {};
  return {
    component: "ak-stage-prompt",
    fields: (await promptsOf(run)).map((p) => ({
      field_key: p.field_key,
      label: p.label,
      type: p.type,
      required: toBool(p.required),
      placeholder: p.placeholder,
      initial_value: initial(p, user, data),
      order: p.order,
      sub_text: p.sub_text,
      choices: null,
    })),
  };
}

function addError(errors: ResponseErrors, field: string, message: string, code = "invalid"): void {
  const list: ErrorDetail[] = errors[field] ?? [];
  list.push({ string: message, code });
  errors[field] = list;
}

async function check(run: StageRun, prompts: PromptRow[], response: Record<string, unknown>) {
  const errors: ResponseErrors = {};
  const add = (field: string, message: string, code = "invalid") => addError(errors, field, message, code);
  const data: Record<string, unknown> = {};
  const user = run.sessionUser ?? (await run.pendingUser());
  for (const p of prompts) {
    if (NOT_INPUT.has(p.type)) continue;
    const raw = response[p.field_key];
    if (p.type === "checkbox") {
      data[p.field_key] = raw === true || raw === "true" || raw === "on";
      continue;
    }
    const value = raw === undefined || raw === null ? "" : String(raw);
    if (!value) {
      if (toBool(p.required)) add(p.field_key, "This field is required.", "required");
      continue;
    }
    if (value.length > 10_000) add(p.field_key, "This value is too long.");
    if (p.type === "email" && !EMAIL.test(value)) add(p.field_key, "Enter a valid email address.");
    if (p.type === "number" && !/^-?\d+(\.\d+)?$/.test(value)) add(p.field_key, "Enter a number.");
    if (p.type === "username") {
      const taken = await run.ctx.store.db
        .selectFrom("users")
        .select("id")
        .where("username", "=", value)
        .executeTakeFirst();
      if (taken && taken.id !== user?.id) add(p.field_key, "Username is already taken.");
    }
    data[p.field_key] = p.type === "number" ? Number(value) : value;
  }
  // A field named "<x>_repeat" must match "<x>" (authentik's convention for password confirmation).
  for (const p of prompts) {
    if (!p.field_key.endsWith("_repeat")) continue;
    const original = p.field_key.slice(0, -"_repeat".length);
    if (data[original] !== undefined && data[original] !== data[p.field_key])
      add(p.field_key, "Passwords don't match.");
  }
  return { errors, data };
}

export const promptStage: StageKind = {
  model: "promptstage",
  apiName: "prompt",
  verboseName: "Prompt Stage",
  component: "ak-stage-prompt-form",
  config: t.Object({
    fields: t.Optional(t.Array(t.String({ format: "uuid" }))),
    validation_policies: t.Optional(t.Array(t.String({ format: "uuid" }))),
  }),
  defaults: { fields: [], validation_policies: [] },

  async challenge(run) {
    return { kind: "challenge", challenge: await promptChallenge(run) };
  },

  async respond(run, response) {
    const prompts = await promptsOf(run);
    const { errors, data } = await check(run, prompts, response);
    const merged = { ...((run.plan.context.prompt_data as Record<string, unknown>) ?? {}), ...data };
    if (Object.keys(errors).length === 0) {
      // Validation policies see the answers; their messages are shown to the user.
      for (const policy of (run.stage.config.validation_policies as string[]) ?? []) {
        const result = await runPolicy(
          run.ctx,
          run.ctx.store.db,
          policy,
          {
            user: run.sessionUser ?? (await run.pendingUser()),
            http: run.http,
            context: { ...run.plan.context, prompt_data: merged },
          },
          { timeoutMs: 30_000, failureResult: false },
        );
        if (!result.passing) {
          for (const m of result.messages) addError(errors, "non_field_errors", m);
        }
      }
    }
    if (Object.keys(errors).length > 0) {
      return { kind: "invalid", challenge: { ...(await promptChallenge(run)), response_errors: errors } };
    }
    run.plan.context.prompt_data = merged;
    return { kind: "next" };
  },
};
