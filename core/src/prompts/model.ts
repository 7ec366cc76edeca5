/** Request schema for /stages/prompt/prompts/, as authentik's PromptRequest. */
import { type Static, Type as t } from "@sinclair/typebox";

export const PROMPT_TYPES = [
  "text",
  "text_area",
  "text_read_only",
  "text_area_read_only",
  "username",
  "email",
  "password",
  "number",
  "checkbox",
  "radio-button-group",
  "dropdown",
  "date",
  "date-time",
  "file",
  "separator",
  "hidden",
  "static",
  "ak-locale",
] as const;

export const PromptRequest = t.Object({
  name: t.String({ minLength: 1, maxLength: 300 }),
  field_key: t.String({ minLength: 1, maxLength: 200, pattern: "^[a-zA-Z0-9_.]+$" }),
  label: t.String({ maxLength: 300 }),
  type: t.Union(PROMPT_TYPES.map((v) => t.Literal(v))),
  required: t.Optional(t.Boolean()),
  placeholder: t.Optional(t.String({ maxLength: 2000 })),
  initial_value: t.Optional(t.String({ maxLength: 2000 })),
  order: t.Optional(t.Integer({ minimum: -2147483648, maximum: 2147483647 })),
  sub_text: t.Optional(t.String({ maxLength: 2000 })),
  placeholder_expression: t.Optional(t.Literal(false)),
  initial_value_expression: t.Optional(t.Literal(false)),
});
export type PromptRequest = Static<typeof PromptRequest>;

export const PROMPT_READ_ONLY = ["pk", "prompt_stages_obj"] as const;
