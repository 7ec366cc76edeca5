/** The flow-level challenges: the envelope's flow_info, redirect, access denied and flow error. */

import type { Challenge, FlowRow } from "../../stages/types.ts";
import type { UserRow } from "../../users/serialize.ts";
import { initialsAvatar } from "../../users/serialize.ts";

export function flowInfo(flow: FlowRow) {
  return {
    title: flow.title,
    background: flow.background,
    cancel_url: "/flows/-/cancel/",
    layout: flow.layout,
  };
}

/** authentik's format_title: a flow title may name the application and user ("Redirecting to %(app)s"). */
export function formatTitle(title: string, values: { app: string; user: string }): string {
  return title.replace(/%\((app|user)\)s/g, (_, key: "app" | "user") => values[key]);
}

export function withFlowInfo(flow: FlowRow, challenge: Challenge) {
  return { flow_info: flowInfo(flow), response_errors: {}, ...challenge };
}

export function redirectChallenge(flow: FlowRow, to: string) {
  return withFlowInfo(flow, { component: "xak-flow-redirect", to });
}

export function accessDenied(flow: FlowRow, message: string, user: UserRow | undefined) {
  return withFlowInfo(flow, {
    component: "ak-stage-access-denied",
    error_message: message,
    pending_user: user?.username ?? "",
    pending_user_avatar: initialsAvatar(user ? user.name || user.username : "?"),
  });
}

export function flowError(flow: FlowRow, requestId: string) {
  return withFlowInfo(flow, {
    component: "ak-stage-flow-error",
    request_id: requestId,
    error: "Something went wrong. Please try again later, or contact your administrator.",
  });
}

/** Only relative paths on this host: "/x", not "//evil", "https://…", "/\\evil" or "javascript:". */
export function safeNext(value: string | null | undefined): string | undefined {
  if (!value?.startsWith("/") || value.startsWith("//") || value.includes("\\")) return undefined;
  // Control characters (CR, LF, TAB, …) could split headers or be dropped by browsers into "//".
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) < 0x20) return undefined;
  return value;
}
