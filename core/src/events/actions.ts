/** authentik's event actions (schema EventActions), kept by name. `custom_*` is open-ended. */
export const EVENT_ACTIONS = [
  "login",
  "login_failed",
  "logout",
  "user_write",
  "suspicious_request",
  "password_set",
  "secret_view",
  "secret_rotate",
  "invitation_used",
  "authorize_application",
  "source_linked",
  "impersonation_started",
  "impersonation_ended",
  "flow_execution",
  "policy_execution",
  "policy_exception",
  "property_mapping_exception",
  "system_task_execution",
  "system_task_exception",
  "system_exception",
  "configuration_error",
  "configuration_warning",
  "model_created",
  "model_updated",
  "model_deleted",
  "email_sent",
  "update_available",
  "export_ready",
  "review_initiated",
  "review_overdue",
  "review_attested",
  "review_completed",
] as const;

export type EventAction = (typeof EVENT_ACTIONS)[number] | `custom_${string}`;

export function isEventAction(value: string): value is EventAction {
  return (EVENT_ACTIONS as readonly string[]).includes(value) || /^custom_[a-z0-9_]+$/.test(value);
}
