/**
 * User write: turns `prompt_data` into a user — updating the pending (or logged-in) user, or creating
 * one as configured. Keys `username`, `name`, `email`, `password`, `path` set those fields; keys
 * `attributes.<x>` set attributes; anything else goes into attributes as is.
 */
import { Type as t } from "@sinclair/typebox";
import { recordEvent } from "../events/service.ts";
import { groupIdsByUuid } from "../groups/membership.ts";
import { asJson, fromJson } from "../store/codec.ts";
import { createUser, DEFAULT_USER_PATH, findUser, hashPassword } from "../users/service.ts";
import type { StageKind } from "./types.ts";

const USER_TYPES = ["internal", "external", "service_account", "internal_service_account"] as const;
const FIELDS = new Set(["username", "name", "email", "password", "path"]);
const SKIP = new Set(["password_repeat"]);

export const userWriteStage: StageKind = {
  model: "userwritestage",
  apiName: "user_write",
  verboseName: "User Write Stage",
  component: "ak-stage-user-write-form",
  config: t.Object({
    user_creation_mode: t.Optional(
      t.Union([t.Literal("never_create"), t.Literal("create_when_required"), t.Literal("always_create")]),
    ),
    create_users_as_inactive: t.Optional(t.Boolean()),
    create_users_group: t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()])),
    user_type: t.Optional(t.Union(USER_TYPES.map((v) => t.Literal(v)))),
    user_path_template: t.Optional(t.String({ maxLength: 200 })),
  }),
  defaults: {
    user_creation_mode: "create_when_required",
    create_users_as_inactive: false,
    create_users_group: null,
    user_type: "external",
    user_path_template: "",
  },
  challenge: write,
  respond: write,
};

async function write(run: Parameters<StageKind["challenge"]>[0]) {
  const ctx = run.ctx;
  const config = run.stage.config;
  const data = (run.plan.context.prompt_data as Record<string, unknown> | undefined) ?? {};
  const existing = run.sessionUser ?? (await run.pendingUser());
  const mode = config.user_creation_mode as string;
  if (!existing && mode === "never_create") return { kind: "deny" as const, message: "No user to write to." };
  if (existing && mode === "always_create")
    return { kind: "deny" as const, message: "This flow creates new users only." };

  const fields: Record<string, string> = {};
  const attributes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    if (SKIP.has(key)) continue;
    if (FIELDS.has(key)) fields[key] = String(value);
    else attributes[key.startsWith("attributes.") ? key.slice("attributes.".length) : key] = value;
  }
  const now = ctx.clock().toISOString();
  // Hashed before the transaction: argon2 takes a while and must not hold the store.
  const passwordHash = fields.password ? await hashPassword(fields.password) : undefined;
  const userId = await ctx.store.db.transaction().execute(async (trx) => {
    if (existing) {
      const current = await findUser(trx, existing.id);
      if (!current) throw new Error("the user to write to is gone");
      if (fields.username && fields.username !== current.username) {
        const taken = await trx
          .selectFrom("users")
          .select("id")
          .where("username", "=", fields.username)
          .executeTakeFirst();
        if (taken) throw new Error("username taken");
      }
      await trx
        .updateTable("users")
        .set({
          ...(fields.username && { username: fields.username }),
          ...(fields.name !== undefined && { name: fields.name }),
          ...(fields.email !== undefined && { email: fields.email }),
          ...(fields.password && {
            password: await hashPassword(fields.password),
            password_change_date: now,
          }),
          ...(Object.keys(attributes).length > 0 && {
            attributes: asJson({ ...fromJson<Record<string, unknown>>(current.attributes), ...attributes }),
          }),
          last_updated: now,
        })
        .where("id", "=", current.id)
        .execute();
      return current.id;
    }
    if (!fields.username) throw new Error("the prompt data has no username");
    const groups = config.create_users_group
      ? (await groupIdsByUuid(trx, [String(config.create_users_group)])).ids
      : [];
    const user = await createUser(ctx, trx, {
      username: fields.username,
      name: fields.name ?? fields.username,
      email: fields.email ?? "",
      passwordHash: passwordHash ?? null,
      is_active: !config.create_users_as_inactive,
      type: config.user_type as (typeof USER_TYPES)[number],
      path: String(config.user_path_template || fields.path || DEFAULT_USER_PATH),
      attributes,
    });
    if (groups.length > 0)
      await trx
        .insertInto("group_members")
        .values(groups.map((group_id) => ({ group_id, user_id: user.id })))
        .execute();
    return user.id;
  });
  await recordEvent(ctx, ctx.store.db, {
    action: "user_write",
    user: {
      pk: userId,
      username: fields.username ?? existing?.username ?? "",
      email: fields.email ?? existing?.email ?? "",
    },
    clientIp: run.http.ip,
    context: {
      created: !existing,
      flow: run.flow.slug,
      fields: Object.keys(fields).filter((k) => k !== "password"),
    },
  });
  if (fields.password) {
    await recordEvent(ctx, ctx.store.db, {
      action: "password_set",
      user: {
        pk: userId,
        username: fields.username ?? existing?.username ?? "",
        email: fields.email ?? existing?.email ?? "",
      },
      clientIp: run.http.ip,
      context: { flow: run.flow.slug },
    });
  }
  run.plan.context.pending_user = userId;
  ctx.signals.emit({ kind: "directory_changed", users: [userId], groups: [] });
  return { kind: "next" as const };
}
