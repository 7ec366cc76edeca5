/** Dummy: a challenge with a single button, for testing flows; `throw_error` makes it fail on purpose. */
import { Type as t } from "@sinclair/typebox";
import { GatehouseError } from "../../../shared/errors.ts";
import type { StageKind } from "./types.ts";

export const dummyStage: StageKind = {
  model: "dummystage",
  apiName: "dummy",
  verboseName: "Dummy Stage",
  component: "ak-stage-dummy-form",
  config: t.Object({ throw_error: t.Optional(t.Boolean()) }),
  defaults: { throw_error: false },
  async challenge(run) {
    return { kind: "challenge", challenge: { component: "ak-stage-dummy", name: run.stage.name } };
  },
  async respond(run) {
    if (run.stage.config.throw_error) {
      throw new GatehouseError("dummy stage failed on purpose", {
        status: 500,
        code: "ST0100DummyError",
        expose: false,
      });
    }
    return { kind: "next" };
  },
};
