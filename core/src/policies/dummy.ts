/** The dummy policy: a fixed result after a random wait, for testing flows and bindings. */
import { Type as t } from "@sinclair/typebox";
import type { PolicyKind } from "./types.ts";

export const dummyPolicy: PolicyKind = {
  model: "dummypolicy",
  apiName: "dummy",
  verboseName: "Dummy Policy",
  component: "ak-policy-dummy-form",
  config: t.Object({
    result: t.Optional(t.Boolean()),
    wait_min: t.Optional(t.Integer({ minimum: 0, maximum: 60 })),
    wait_max: t.Optional(t.Integer({ minimum: 0, maximum: 60 })),
  }),
  defaults: { result: false, wait_min: 0, wait_max: 0 },
  async evaluate(_ctx, config) {
    const min = Number(config.wait_min ?? 0);
    const max = Math.max(min, Number(config.wait_max ?? 0));
    const wait = min + Math.random() * (max - min);
    if (wait > 0) await Bun.sleep(wait * 1000);
    const passing = Boolean(config.result);
    return { passing, messages: passing ? [] : ["Dummy policy denied access."] };
  },
};
