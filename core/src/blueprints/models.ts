/**
 * The models a blueprint may name (authentik's `app_label.model`), each mapped onto Gatehouse's own
 * services so a blueprint write is validated exactly like an API write.
 */
import type { TObject } from "@sinclair/typebox";
import { validationError } from "../../../shared/errors.ts";
import { parseBody } from "../api/body.ts";
import {
  ApplicationRequest,
  createApplication,
  deleteApplication,
  updateApplication,
} from "../applications/service.ts";
import { BrandRequest } from "../brands/model.ts";
import { createBrand, deleteBrand, updateBrand } from "../brands/service.ts";
import type { CoreContext, Db } from "../context.ts";
import { FlowRequest, FlowStageBindingRequest, PolicyBindingRequest } from "../flows/model.ts";
import * as flows from "../flows/service.ts";
import { GroupRequest } from "../groups/model.ts";
import { createGroup, deleteGroup, updateGroup } from "../groups/service.ts";
import {
  createInvitation,
  deleteInvitation,
  InvitationRequest,
  updateInvitation,
} from "../invitations/service.ts";
import { POLICY_KINDS } from "../policies/kinds.ts";
import * as policies from "../policies/service.ts";
import { PromptRequest } from "../prompts/model.ts";
import { createPrompt, deletePrompt, updatePrompt } from "../prompts/service.ts";
import { STAGE_KINDS } from "../stages/kinds.ts";
import {
  createStage,
  deleteStage,
  describeKind,
  stageRequestSchema,
  updateStage,
} from "../stages/service.ts";
import type { Database } from "../store/database.ts";
import { UserRequest } from "../users/model.ts";
import { createUser, deleteUser, hashPassword, setPasswordHash, updateUser } from "../users/service.ts";

export type Pk = string | number;
type Values = Record<string, unknown>;

export interface ModelHandler {
  /** Finds the object the identifiers name (all must match). */
  find(db: Db, identifiers: Values): Promise<Pk | undefined>;
  create(ctx: CoreContext, db: Db, values: Values): Promise<Pk>;
  update(ctx: CoreContext, db: Db, pk: Pk, attrs: Values): Promise<void>;
  remove(ctx: CoreContext, db: Db, pk: Pk): Promise<void>;
}

type Table = keyof Database;

/** Finds a row by identifier fields mapped to columns; unknown identifier fields are an error. */
function finder(table: Table, pk: string, columns: Record<string, string>) {
  return async (db: Db, identifiers: Values): Promise<Pk | undefined> => {
    // biome-ignore lint/suspicious/noExplicitAny: the table is chosen at run time from the registry below
    let q = (db as any).selectFrom(table).select(`${pk} as pk`);
    const fields = Object.entries(identifiers);
    if (fields.length === 0)
      throw validationError("BP0010NoIdentifiers", { content: [`${table}: an entry needs identifiers`] });
    for (const [field, value] of fields) {
      const column = field === "pk" ? pk : columns[field];
      if (!column)
        throw validationError("BP0011BadIdentifier", {
          content: [`${table}: "${field}" cannot identify an object`],
        });
      q = q.where(column, "=", value);
    }
    const rows = (await q.limit(2).execute()) as { pk: Pk }[];
    if (rows.length > 1)
      throw validationError("BP0012Ambiguous", { content: [`${table}: identifiers match several objects`] });
    return rows[0]?.pk;
  };
}

function body<T extends TObject>(schema: T, values: Values, partial: boolean) {
  const { pk: _pk, ...rest } = values;
  return parseBody(schema, rest, { partial });
}

const groupIdOf = async (db: Db, uuid: unknown) =>
  (await db.selectFrom("groups").select("num_pk").where("group_uuid", "=", String(uuid)).executeTakeFirst())
    ?.num_pk ?? -1;

const handlers = new Map<string, ModelHandler>();

handlers.set("authentik_core.user", {
  find: finder("users", "id", { username: "username", email: "email", uuid: "uuid", name: "name" }),
  async create(ctx, db, values) {
    const { password, ...rest } = values;
    const passwordHash = typeof password === "string" ? await hashPassword(password) : null;
    const row = await createUser(ctx, db, { ...body(UserRequest, rest, false), passwordHash });
    return row.id;
  },
  async update(ctx, db, pk, attrs) {
    const { password, ...rest } = attrs;
    if (Object.keys(rest).length > 0) await updateUser(ctx, db, Number(pk), body(UserRequest, rest, true));
    if (typeof password === "string")
      await setPasswordHash(ctx, db, Number(pk), await hashPassword(password));
  },
  remove: async (_ctx, db, pk) => void (await deleteUser(db, Number(pk))),
});

handlers.set("authentik_core.group", {
  find: finder("groups", "group_uuid", { name: "name", num_pk: "num_pk" }),
  create: async (_ctx, db, values) => (await createGroup(db, body(GroupRequest, values, false))).group_uuid,
  update: async (_ctx, db, pk, attrs) =>
    void (await updateGroup(db, String(pk), body(GroupRequest, attrs, true))),
  remove: async (_ctx, db, pk) => void (await deleteGroup(db, String(pk))),
});

const slugOf = async (db: Db, uuid: Pk) =>
  (
    await db
      .selectFrom("flows")
      .select("slug")
      .where("flow_uuid", "=", String(uuid))
      .executeTakeFirstOrThrow()
  ).slug;

handlers.set("authentik_flows.flow", {
  find: finder("flows", "flow_uuid", { slug: "slug", name: "name" }),
  create: async (_ctx, db, values) =>
    (await flows.createFlow(db, body(FlowRequest, values, false))).flow_uuid,
  update: async (_ctx, db, pk, attrs) =>
    void (await flows.updateFlow(db, await slugOf(db, pk), body(FlowRequest, attrs, true))),
  remove: async (_ctx, db, pk) => void (await flows.deleteFlow(db, await slugOf(db, pk))),
});

handlers.set("authentik_flows.flowstagebinding", {
  find: finder("flow_stage_bindings", "fsb_uuid", { target: "target", stage: "stage", order: "order" }),
  create: async (_ctx, db, values) =>
    (await flows.createBinding(db, body(FlowStageBindingRequest, values, false))).fsb_uuid,
  update: async (_ctx, db, pk, attrs) =>
    void (await flows.updateBinding(db, String(pk), body(FlowStageBindingRequest, attrs, true))),
  remove: async (_ctx, db, pk) => void (await flows.deleteBinding(db, String(pk))),
});

for (const kind of STAGE_KINDS) {
  handlers.set(describeKind(kind, "authentik_stages").meta_model_name, {
    find: async (db, ids) => {
      const pk = await finder("stages", "stage_uuid", { name: "name" })(db, ids);
      if (pk === undefined) return undefined;
      const row = await db
        .selectFrom("stages")
        .select("kind")
        .where("stage_uuid", "=", String(pk))
        .executeTakeFirstOrThrow();
      if (row.kind !== kind.model) {
        throw validationError("BP0013KindMismatch", {
          content: [`stage ${JSON.stringify(ids)} exists but is a ${row.kind}, not a ${kind.model}`],
        });
      }
      return pk;
    },
    create: async (_ctx, db, values) =>
      (await createStage(db, kind, body(stageRequestSchema(kind), values, false))).stage_uuid,
    update: async (_ctx, db, pk, attrs) =>
      void (await updateStage(db, kind, String(pk), body(stageRequestSchema(kind), attrs, true))),
    remove: async (_ctx, db, pk) => void (await deleteStage(db, String(pk), kind)),
  });
}

for (const kind of POLICY_KINDS) {
  handlers.set(describeKind(kind, "authentik_policies").meta_model_name, {
    find: finder("policies", "policy_uuid", { name: "name" }),
    create: async (_ctx, db, values) =>
      (await policies.createPolicy(db, kind, body(policies.policyRequestSchema(kind), values, false)))
        .policy_uuid,
    update: async (_ctx, db, pk, attrs) =>
      void (await policies.updatePolicy(
        db,
        kind,
        String(pk),
        body(policies.policyRequestSchema(kind), attrs, true),
      )),
    remove: async (_ctx, db, pk) => void (await policies.deletePolicy(db, String(pk), kind)),
  });
}

handlers.set("authentik_policies.policybinding", {
  async find(db, ids) {
    const { group, ...rest } = ids;
    const resolved = group === undefined ? rest : { ...rest, group_id: await groupIdOf(db, group) };
    return finder("policy_bindings", "policy_binding_uuid", {
      target: "target",
      order: "order",
      policy: "policy",
      group_id: "group_id",
      user: "user_id",
    })(db, resolved);
  },
  create: async (_ctx, db, values) =>
    (await policies.createBinding(db, body(PolicyBindingRequest, values, false))).policy_binding_uuid,
  update: async (_ctx, db, pk, attrs) =>
    void (await policies.updateBinding(db, String(pk), body(PolicyBindingRequest, attrs, true))),
  remove: async (_ctx, db, pk) => void (await policies.deleteBinding(db, String(pk))),
});

handlers.set("authentik_stages_prompt.prompt", {
  find: finder("prompts", "prompt_uuid", { name: "name", field_key: "field_key" }),
  create: async (_ctx, db, values) =>
    (await createPrompt(db, body(PromptRequest, values, false))).prompt_uuid,
  update: async (_ctx, db, pk, attrs) =>
    void (await updatePrompt(db, String(pk), body(PromptRequest, attrs, true))),
  remove: async (_ctx, db, pk) => void (await deletePrompt(db, String(pk))),
});

handlers.set("authentik_stages_invitation.invitation", {
  find: finder("invitations", "invite_uuid", { name: "name" }),
  create: async (ctx, db, values) =>
    (await createInvitation(ctx, db, body(InvitationRequest, values, false), null)).invite_uuid,
  update: async (_ctx, db, pk, attrs) =>
    void (await updateInvitation(db, String(pk), body(InvitationRequest, attrs, true))),
  remove: async (_ctx, db, pk) => void (await deleteInvitation(db, String(pk))),
});

handlers.set("authentik_core.application", {
  find: finder("applications", "app_uuid", { slug: "slug", name: "name" }),
  create: async (_ctx, db, values) =>
    (await createApplication(db, body(ApplicationRequest, values, false))).app_uuid,
  async update(_ctx, db, pk, attrs) {
    const row = await db
      .selectFrom("applications")
      .select("slug")
      .where("app_uuid", "=", String(pk))
      .executeTakeFirstOrThrow();
    await updateApplication(db, row.slug, body(ApplicationRequest, attrs, true));
  },
  async remove(_ctx, db, pk) {
    const row = await db
      .selectFrom("applications")
      .select("slug")
      .where("app_uuid", "=", String(pk))
      .executeTakeFirstOrThrow();
    await deleteApplication(db, row.slug);
  },
});

handlers.set("authentik_brands.brand", {
  find: finder("brands", "brand_uuid", { domain: "domain" }),
  create: async (_ctx, db, values) => (await createBrand(db, body(BrandRequest, values, false))).brand_uuid,
  update: async (_ctx, db, pk, attrs) =>
    void (await updateBrand(db, String(pk), body(BrandRequest, attrs, true))),
  remove: async (_ctx, db, pk) => void (await deleteBrand(db, String(pk))),
});

export function modelHandler(model: string): ModelHandler | undefined {
  return handlers.get(model);
}

export function supportedModels(): string[] {
  return [...handlers.keys()].sort();
}
