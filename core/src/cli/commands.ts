/** The one-shot CLI commands. Each opens the store, does one thing, closes it and returns an exit code. */

import { parseListen } from "../../../shared/config/load.ts";
import { randomSecret } from "../../../shared/crypto.ts";
import type { Logger } from "../../../shared/log.ts";
import { ADMIN_GROUP } from "../bootstrap.ts";
import type { CoreConfig } from "../config/index.ts";
import { type CoreContext, inTransaction, systemClock } from "../context.ts";
import { openMigratedStore } from "../core.ts";
import { recordEvent } from "../events/service.ts";
import { createGroup } from "../groups/service.ts";
import { loadInstallSecrets } from "../secrets.ts";
import { Signals } from "../signals.ts";
import { createToken } from "../tokens/service.ts";
import { createUser, findUserByUsername, hashPassword } from "../users/service.ts";

async function withContext(
  config: CoreConfig,
  log: Logger,
  fn: (ctx: CoreContext) => Promise<number>,
): Promise<number> {
  const store = await openMigratedStore(config, log);
  try {
    const secrets = await loadInstallSecrets(store, config, log);
    return await fn({ store, config, log, clock: systemClock, signals: new Signals(), ...secrets });
  } finally {
    await store.close();
  }
}

export async function migrate(config: CoreConfig, log: Logger): Promise<number> {
  return withContext(config, log, async (ctx) => {
    process.stdout.write(`store (${ctx.store.kind}) is at the latest schema\n`);
    return 0;
  });
}

export async function createAdmin(
  config: CoreConfig,
  log: Logger,
  username: string,
  options: { email: string | undefined; passwordFromStdin: boolean },
): Promise<number> {
  const password = options.passwordFromStdin
    ? (await Bun.stdin.text()).replace(/\r?\n$/, "")
    : randomSecret(18);
  if (password.length < 8) {
    process.stderr.write("the password must be at least 8 characters\n");
    return 2;
  }
  return withContext(config, log, async (ctx) => {
    if (await findUserByUsername(ctx.store.db, username)) {
      process.stderr.write(`a user named "${username}" already exists\n`);
      return 1;
    }
    const passwordHash = await hashPassword(password);
    await inTransaction(ctx, async (trx) => {
      const group =
        (await trx.selectFrom("groups").selectAll().where("name", "=", ADMIN_GROUP).executeTakeFirst()) ??
        (await createGroup(trx, { name: ADMIN_GROUP, is_superuser: true }));
      const user = await createUser(ctx, trx, {
        username,
        name: username,
        email: options.email ?? "",
        passwordHash,
        groups: [group.group_uuid],
      });
      await recordEvent(ctx, trx, {
        action: "model_created",
        context: {
          model: { app: "authentik_core", model_name: "user", pk: user.id, name: username },
          via: "cli",
        },
      });
    });
    process.stdout.write(
      options.passwordFromStdin
        ? `created superuser ${username}\n`
        : `created superuser ${username} with password: ${password}\n`,
    );
    return 0;
  });
}

export async function createApiToken(
  config: CoreConfig,
  log: Logger,
  username: string,
  options: { identifier: string | undefined; expiresDays: number | null; description: string | undefined },
): Promise<number> {
  if (options.expiresDays !== null && !(Number.isInteger(options.expiresDays) && options.expiresDays > 0)) {
    process.stderr.write("--expires-days needs a positive whole number\n");
    return 2;
  }
  return withContext(config, log, async (ctx) => {
    const user = await findUserByUsername(ctx.store.db, username);
    if (!user) {
      process.stderr.write(`no user named "${username}"\n`);
      return 1;
    }
    const identifier = options.identifier ?? `${username.replace(/[^-a-zA-Z0-9_]/g, "-")}-cli-${Date.now()}`;
    const { key } = await inTransaction(ctx, async (trx) => {
      const created = await createToken(ctx, trx, {
        identifier,
        intent: "api",
        user: user.id,
        expiring: options.expiresDays !== null,
        expires:
          options.expiresDays === null
            ? null
            : new Date(Date.now() + options.expiresDays * 86_400_000).toISOString(),
        description: options.description ?? "Created with gatehouse create-token",
      });
      await recordEvent(ctx, trx, {
        action: "model_created",
        context: {
          model: { app: "authentik_core", model_name: "token", pk: created.row.token_uuid, name: identifier },
          via: "cli",
        },
      });
      return created;
    });
    process.stdout.write(`${key}\n`);
    process.stderr.write(`token ${identifier} for ${username} created; the key above is shown only once\n`);
    return 0;
  });
}

export async function healthcheck(config: CoreConfig): Promise<number> {
  const listen = parseListen(config["listen.http"]);
  if (!listen) return 1;
  const host = ["0.0.0.0", "::", ""].includes(listen.hostname) ? "127.0.0.1" : listen.hostname;
  const hostPart = host.includes(":") ? `[${host}]` : host;
  try {
    const res = await fetch(`http://${hostPart}:${listen.port}/-/health/ready/`, {
      signal: AbortSignal.timeout(5000),
    });
    process.stdout.write(res.status === 204 ? "healthy\n" : `unhealthy (${res.status})\n`);
    return res.status === 204 ? 0 : 1;
  } catch (err) {
    process.stdout.write(`unreachable: ${(err as Error).message}\n`);
    return 1;
  }
}
