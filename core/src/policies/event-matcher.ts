/**
 * Event matcher: passes when the event in the request context (notification rules put it there)
 * matches every field that is set: action, client address, app, model.
 */
import { Type as t } from "@sinclair/typebox";
import type { PolicyKind } from "./types.ts";

const nullableString = t.Optional(t.Union([t.String({ maxLength: 300 }), t.Null()]));

export const eventMatcherPolicy: PolicyKind = {
  model: "eventmatcherpolicy",
  apiName: "event_matcher",
  verboseName: "Event Matcher Policy",
  component: "ak-policy-event-matcher-form",
  config: t.Object({
    action: nullableString,
    client_ip: nullableString,
    app: nullableString,
    model: nullableString,
  }),
  defaults: { action: null, client_ip: null, app: null, model: null },
  async evaluate(_ctx, config, request) {
    const event = request.context.event as
      | {
          action?: string;
          client_ip?: string | null;
          app?: string;
          context?: { model?: { app?: string; model_name?: string } };
        }
      | undefined;
    if (!event) return { passing: false, messages: ["No event to match."] };
    const model = event.context?.model;
    const checks: [unknown, unknown][] = [
      [config.action, event.action],
      [config.client_ip, event.client_ip],
      [config.app, event.app],
      [config.model, model ? `${model.app}.${model.model_name}` : undefined],
    ];
    const passing = checks.every(
      ([want, have]) => want === null || want === undefined || want === "" || want === have,
    );
    return { passing, messages: [] };
  },
};
