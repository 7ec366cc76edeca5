/** Request schemas for /flows/instances/ and /flows/bindings/, as authentik's FlowRequest and FlowStageBindingRequest. */
import { type Static, Type as t } from "@sinclair/typebox";

const literals = <T extends readonly string[]>(values: T) => t.Union(values.map((v) => t.Literal(v)));

export const DESIGNATIONS = [
  "authentication",
  "authorization",
  "invalidation",
  "enrollment",
  "unenrollment",
  "recovery",
  "stage_configuration",
] as const;
export const AUTHENTICATION = [
  "none",
  "require_authenticated",
  "require_unauthenticated",
  "require_superuser",
  "require_redirect",
  "require_outpost",
] as const;
export const LAYOUTS = [
  "stacked",
  "content_left",
  "content_right",
  "sidebar_left",
  "sidebar_right",
  "sidebar_left_frame_background",
  "sidebar_right_frame_background",
] as const;
export const DENIED_ACTIONS = ["message_continue", "message", "continue"] as const;
export const ENGINE_MODES = ["all", "any"] as const;
export const INVALID_RESPONSE_ACTIONS = ["retry", "restart", "restart_with_context"] as const;

export const FlowRequest = t.Object({
  name: t.String({ minLength: 1, maxLength: 300 }),
  slug: t.String({ minLength: 1, maxLength: 50, pattern: "^[-a-zA-Z0-9_]+$" }),
  title: t.String({ minLength: 1, maxLength: 300 }),
  designation: literals(DESIGNATIONS),
  background: t.Optional(t.String({ maxLength: 2000 })),
  policy_engine_mode: t.Optional(literals(ENGINE_MODES)),
  compatibility_mode: t.Optional(t.Boolean()),
  layout: t.Optional(literals(LAYOUTS)),
  denied_action: t.Optional(literals(DENIED_ACTIONS)),
  authentication: t.Optional(literals(AUTHENTICATION)),
});
export type FlowRequest = Static<typeof FlowRequest>;

export const FLOW_READ_ONLY = [
  "pk",
  "policybindingmodel_ptr_id",
  "background_url",
  "background_themed_urls",
  "stages",
  "policies",
  "cache_count",
  "export_url",
] as const;

const int32 = t.Integer({ minimum: -2147483648, maximum: 2147483647 });

export const FlowStageBindingRequest = t.Object({
  target: t.String({ format: "uuid" }),
  stage: t.String({ format: "uuid" }),
  order: int32,
  evaluate_on_plan: t.Optional(t.Boolean()),
  re_evaluate_policies: t.Optional(t.Boolean()),
  policy_engine_mode: t.Optional(literals(ENGINE_MODES)),
  invalid_response_action: t.Optional(literals(INVALID_RESPONSE_ACTIONS)),
});
export type FlowStageBindingRequest = Static<typeof FlowStageBindingRequest>;

export const BINDING_READ_ONLY = ["pk", "policybindingmodel_ptr_id", "stage_obj"] as const;

export const PolicyBindingRequest = t.Object({
  policy: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
  group: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
  user: t.Optional(t.Union([t.Integer({ minimum: 1 }), t.Null()])),
  target: t.String({ format: "uuid" }),
  negate: t.Optional(t.Boolean()),
  enabled: t.Optional(t.Boolean()),
  order: int32,
  timeout: t.Optional(t.Integer({ minimum: 0, maximum: 3600 })),
  failure_result: t.Optional(t.Boolean()),
});
export type PolicyBindingRequest = Static<typeof PolicyBindingRequest>;

export const POLICY_BINDING_READ_ONLY = ["pk", "policy_obj", "group_obj", "user_obj"] as const;
