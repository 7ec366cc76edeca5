/** POST /core/users/service_account/: a service-account user, an app-password token, optionally a group. */
import type { Static } from "@sinclair/typebox";
import { validationError } from "../../../shared/errors.ts";
import type { CoreContext, Db } from "../context.ts";
import { createGroup } from "../groups/service.ts";
import { createToken } from "../tokens/service.ts";
import type { UserServiceAccountRequest } from "./model.ts";
import { userUid } from "./serialize.ts";
import { createUser, findUserByUsername, SERVICE_ACCOUNT_PATH } from "./service.ts";

/** authentik's default when no `expires` is given: 360 days. */
const DEFAULT_LIFETIME_MS = 360 * 86_400_000;

export interface ServiceAccountOut {
  username: string;
  token: string;
  user_uid: string;
  user_pk: number;
  group_pk?: string;
}

export function slugify(value: string): string {
  return value
    .normalize("NFKD")
    .replace(/[^\w\s-]/g, "")
    .trim()
    .toLowerCase()
    .replace(/[-\s]+/g, "-");
}

export async function createServiceAccount(
  ctx: CoreContext,
  db: Db,
  input: Static<typeof UserServiceAccountRequest>,
): Promise<ServiceAccountOut> {
  if (await findUserByUsername(db, input.name)) {
    throw validationError("SA0001UsernameTaken", { name: ["A user with that username already exists."] });
  }
  const user = await createUser(ctx, db, {
    username: input.name,
    name: input.name,
    type: "service_account",
    path: SERVICE_ACCOUNT_PATH,
    attributes: { "goauthentik.io/user/token-expires": input.expiring ?? true },
  });
  const expiring = input.expiring ?? true;
  const expires = expiring
    ? (input.expires ?? new Date(ctx.clock().getTime() + DEFAULT_LIFETIME_MS).toISOString())
    : null;
  const { key } = await createToken(ctx, db, {
    identifier: slugify(`service-account-${input.name}-password`),
    intent: "app_password",
    user: user.id,
    expiring,
    expires,
    description: `App password for service account ${input.name}`,
  });
  const out: ServiceAccountOut = {
    username: user.username,
    token: key,
    user_uid: userUid(ctx.installId, user.id),
    user_pk: user.id,
  };
  if (input.create_group) {
    const group = await createGroup(db, { name: input.name, users: [user.id] });
    out.group_pk = group.group_uuid;
  }
  return out;
}
