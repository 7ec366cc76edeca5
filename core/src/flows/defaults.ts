/**
 * Default flows, made at start when missing (matched by slug/name, so re-running changes nothing and
 * an operator's edits are kept). These follow authentik's default blueprints; the blueprint importer
 * (a later milestone) will load the same content from YAML.
 */

import { INBUILT_BACKEND, LDAP_BACKEND, TOKEN_BACKEND } from "../auth/password.ts";
import type { CoreContext, Db } from "../context.ts";
import { stageKind } from "../stages/kinds.ts";
import { asJson } from "../store/codec.ts";

interface DefaultFlow {
  slug: string;
  name: string;
  title: string;
  designation: string;
  authentication?: string;
  stages: { name: string; kind: string; config?: Record<string, unknown>; order: number }[];
}

export const DEFAULT_FLOWS: readonly DefaultFlow[] = [
  {
    slug: "default-authentication-flow",
    name: "Welcome to Gatehouse!",
    title: "Welcome to Gatehouse!",
    designation: "authentication",
    stages: [
      { name: "default-authentication-identification", kind: "identificationstage", order: 10 },
      {
        name: "default-authentication-password",
        kind: "passwordstage",
        config: { backends: [INBUILT_BACKEND, TOKEN_BACKEND, LDAP_BACKEND] },
        order: 20,
      },
      { name: "default-authentication-mfa-validation", kind: "authenticatorvalidatestage", order: 30 },
      { name: "default-authentication-login", kind: "userloginstage", order: 100 },
    ],
  },
  {
    slug: "default-invalidation-flow",
    name: "Logout",
    title: "Default invalidation Flow",
    designation: "invalidation",
    stages: [{ name: "default-invalidation-logout", kind: "userlogoutstage", order: 0 }],
  },
  {
    slug: "default-authenticator-totp-setup",
    name: "default-authenticator-totp-setup",
    title: "Set up Two-Factor authentication",
    designation: "stage_configuration",
    authentication: "require_authenticated",
    stages: [{ name: "default-authenticator-totp-setup", kind: "authenticatortotpstage", order: 0 }],
  },
  {
    slug: "default-authenticator-static-setup",
    name: "default-authenticator-static-setup",
    title: "Set up Static OTP Tokens",
    designation: "stage_configuration",
    authentication: "require_authenticated",
    stages: [
      {
        name: "default-authenticator-static-setup",
        kind: "authenticatorstaticstage",
        config: { token_count: 6 },
        order: 0,
      },
    ],
  },
];

export async function ensureDefaultFlows(ctx: CoreContext): Promise<string[]> {
  const created: string[] = [];
  for (const flow of DEFAULT_FLOWS) {
    const made = await ctx.store.db.transaction().execute((trx) => ensureFlow(trx, flow));
    if (made) created.push(flow.slug);
  }
  if (created.length > 0) ctx.log.info("created default flows", { flows: created });
  return created;
}

async function ensureFlow(db: Db, flow: DefaultFlow): Promise<boolean> {
  if (await db.selectFrom("flows").select("flow_uuid").where("slug", "=", flow.slug).executeTakeFirst())
    return false;
  const flowUuid = crypto.randomUUID();
  await db
    .insertInto("flows")
    .values({
      flow_uuid: flowUuid,
      slug: flow.slug,
      name: flow.name,
      title: flow.title,
      designation: flow.designation,
      background: "",
      policy_engine_mode: "any",
      compatibility_mode: false,
      layout: "stacked",
      denied_action: "message_continue",
      authentication: flow.authentication ?? "none",
    })
    .execute();
  for (const stage of flow.stages) {
    const existing = await db
      .selectFrom("stages")
      .select("stage_uuid")
      .where("name", "=", stage.name)
      .executeTakeFirst();
    let stageUuid = existing?.stage_uuid;
    if (!stageUuid) {
      const kind = stageKind(stage.kind);
      if (!kind) throw new Error(`default flow ${flow.slug} names unknown stage type ${stage.kind}`);
      stageUuid = crypto.randomUUID();
      await db
        .insertInto("stages")
        .values({
          stage_uuid: stageUuid,
          name: stage.name,
          kind: stage.kind,
          config: asJson({ ...kind.defaults, ...stage.config }),
        })
        .execute();
    }
    await db
      .insertInto("flow_stage_bindings")
      .values({
        fsb_uuid: crypto.randomUUID(),
        target: flowUuid,
        stage: stageUuid,
        order: stage.order,
        evaluate_on_plan: false,
        re_evaluate_policies: true,
        policy_engine_mode: "any",
        invalid_response_action: "retry",
      })
      .execute();
  }
  return true;
}
