/**
 * First start against an empty store: the `authentik Admins` superuser group and `akadmin`, named as in
 * authentik so its blueprints and scripts keep working. Password, email and an API token come from
 * GATEHOUSE_BOOTSTRAP_* (or AUTHENTIK_BOOTSTRAP_*). Without a password, a one-time setup link is made.
 */
import { randomSecret, sha256Hex } from "../../shared/crypto.ts";
import { type CoreContext, inTransaction } from "./context.ts";
import { ensureSelfSignedCertificate } from "./crypto/self-signed.ts";
import { recordEvent } from "./events/service.ts";
import { createGroup } from "./groups/service.ts";
import { createToken } from "./tokens/service.ts";
import { createUser, findUserByUsername, hashPassword, setUserGroups } from "./users/service.ts";

export const ADMIN_USERNAME = "akadmin";
export const ADMIN_GROUP = "authentik Admins";
export const BOOTSTRAP_TOKEN_IDENTIFIER = "authentik-bootstrap-token";
export const SETUP_TOKEN_PREFIX = "gatehouse-setup-";
const SETUP_LIFETIME_MS = 24 * 3_600_000;

export interface BootstrapResult {
  created: boolean;
  /** A one-time key for /setup/ when akadmin has no password yet. */
  setupKey?: string;
}

export async function bootstrap(ctx: CoreContext): Promise<BootstrapResult> {
  const anyUser = await ctx.store.db.selectFrom("users").select("id").limit(1).executeTakeFirst();
  let created = false;
  if (!anyUser) {
    const passwordHash = ctx.config.bootstrap_password
      ? await hashPassword(ctx.config.bootstrap_password)
      : null;
    created = await inTransaction(ctx, async (trx) => {
      // A replica that lost the race finds the admin already there.
      if (await findUserByUsername(trx, ADMIN_USERNAME)) return false;
      const group =
        (await trx.selectFrom("groups").selectAll().where("name", "=", ADMIN_GROUP).executeTakeFirst()) ??
        (await createGroup(trx, { name: ADMIN_GROUP, is_superuser: true }));
      const admin = await createUser(ctx, trx, {
        username: ADMIN_USERNAME,
        name: "authentik Default Admin",
        email: ctx.config.bootstrap_email,
        passwordHash,
      });
      await setUserGroups(trx, admin.id, [group.num_pk]);
      if (ctx.config.bootstrap_token) {
        await createToken(ctx, trx, {
          identifier: BOOTSTRAP_TOKEN_IDENTIFIER,
          intent: "api",
          user: admin.id,
          expiring: false,
          key: ctx.config.bootstrap_token,
          description: "Bootstrap token from GATEHOUSE_BOOTSTRAP_TOKEN",
          managed: "goauthentik.io/core/bootstrap-token",
        });
      }
      await recordEvent(ctx, trx, {
        action: "model_created",
        context: {
          model: { app: "authentik_core", model_name: "user", pk: admin.id, name: admin.username },
          bootstrap: true,
        },
      });
      return true;
    });
  }
  await ensureSelfSignedCertificate(ctx);
  const admin = await findUserByUsername(ctx.store.db, ADMIN_USERNAME);
  if (admin && admin.password === null) return { created, setupKey: await issueSetupKey(ctx, admin.id) };
  return { created };
}

/** A fresh single-use recovery token for /setup/; older unused ones are removed. */
async function issueSetupKey(ctx: CoreContext, userId: number): Promise<string> {
  const key = randomSecret();
  await inTransaction(ctx, async (trx) => {
    await trx.deleteFrom("tokens").where("identifier", "like", `${SETUP_TOKEN_PREFIX}%`).execute();
    await createToken(ctx, trx, {
      identifier: `${SETUP_TOKEN_PREFIX}${sha256Hex(key).slice(0, 12)}`,
      intent: "recovery",
      user: userId,
      expiring: true,
      expires: new Date(ctx.clock().getTime() + SETUP_LIFETIME_MS).toISOString(),
      key,
      description: "One-time link to set akadmin's password",
    });
  });
  return key;
}
