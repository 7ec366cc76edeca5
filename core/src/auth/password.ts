/**
 * Password checks for flows and outposts: the user's argon2id hash (inbuilt backend) and, when allowed,
 * the user's app passwords (token backend). An unknown user costs the same as a wrong password.
 */
import { sha256Hex } from "../../../shared/crypto.ts";
import type { Db } from "../context.ts";
import { toBool, toIso } from "../store/codec.ts";
import type { UserRow } from "../users/serialize.ts";

export const INBUILT_BACKEND = "authentik.core.auth.InbuiltBackend";
export const TOKEN_BACKEND = "authentik.core.auth.TokenBackend";
export const LDAP_BACKEND = "authentik.sources.ldap.auth.LDAPBackend";
export const PASSWORD_BACKENDS = [INBUILT_BACKEND, TOKEN_BACKEND, LDAP_BACKEND] as const;

let dummyHash: Promise<string> | undefined;
/** A hash to verify against when there is no user, so both paths take an argon2 verification. */
function burnTime(password: string): Promise<boolean> {
  dummyHash ??= Bun.password.hash("gatehouse-timing-equaliser", { algorithm: "argon2id" });
  return dummyHash.then((h) => Bun.password.verify(password, h)).then(() => false);
}

export type PasswordMethod = "password" | "app_password";

export async function checkPassword(
  db: Db,
  user: UserRow | undefined,
  password: string,
  backends: readonly string[],
  now: Date,
): Promise<PasswordMethod | undefined> {
  if (!user || !toBool(user.is_active)) {
    await burnTime(password);
    return undefined;
  }
  if (backends.includes(INBUILT_BACKEND)) {
    if (user.password) {
      try {
        if (await Bun.password.verify(password, user.password)) return "password";
      } catch {
        // A malformed stored hash is a failed check, not a crash.
      }
    } else {
      await burnTime(password);
    }
  }
  if (backends.includes(TOKEN_BACKEND)) {
    const token = await db
      .selectFrom("tokens")
      .select(["expiring", "expires"])
      .where("key_hash", "=", sha256Hex(password))
      .where("user_id", "=", user.id)
      .where("intent", "=", "app_password")
      .executeTakeFirst();
    const live =
      token &&
      (!toBool(token.expiring) || (token.expires !== null && toIso(token.expires) > now.toISOString()));
    if (live) return "app_password";
  }
  return undefined;
}
