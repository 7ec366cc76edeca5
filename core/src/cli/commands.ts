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
import { tokenIdentifier } from "../outposts/service.ts";
import { loadInstallSecrets } from "../secrets.ts";
import { Signals } from "../signals.ts";
import { fromJson } from "../store/codec.ts";
import { createToken, revealKey } from "../tokens/service.ts";
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

/**
 * `gatehouse outpost-deployment <name or uuid> [--host URL]`: what an outpost needs to run — its
 * environment on stdout (an env file: GATEHOUSE_HOST, GATEHOUSE_TOKEN, GATEHOUSE_INSECURE), and on
 * stderr the command to start the binary of its type. Reading the token is logged as secret_view.
 */
export async function outpostDeployment(
  config: CoreConfig,
  log: Logger,
  which: string,
  options: { host: string | undefined },
): Promise<number> {
  return withContext(config, log, async (ctx) => {
    const outpost = await ctx.store.db
      .selectFrom("outposts")
      .selectAll()
      .where((eb) => eb.or([eb("name", "=", which), eb("outpost_uuid", "=", which.toLowerCase())]))
      .executeTakeFirst();
    if (!outpost) {
      process.stderr.write(`no outpost named "${which}"\n`);
      return 1;
    }
    const token = await ctx.store.db
      .selectFrom("tokens")
      .selectAll()
      .where("identifier", "=", tokenIdentifier(outpost.outpost_uuid))
      .executeTakeFirst();
    if (!token) {
      process.stderr.write(
        `outpost "${outpost.name}" has no token; save it once through the API to make one\n`,
      );
      return 1;
    }
    const settings = fromJson<{ authentik_host?: string; authentik_host_insecure?: boolean }>(outpost.config);
    const listen = parseListen(config["listen.http"]);
    const host =
      options.host ??
      (settings.authentik_host ||
        `http://${listen && listen.hostname !== "0.0.0.0" && listen.hostname !== "::" ? listen.hostname : "127.0.0.1"}:${listen?.port ?? 9000}`);
    await recordEvent(ctx, ctx.store.db, {
      action: "secret_view",
      context: {
        secret: { app: "authentik_core", model_name: "token", pk: token.token_uuid, name: token.identifier },
        via: "cli",
      },
    });
    process.stdout.write(
      `GATEHOUSE_HOST=${host}\nGATEHOUSE_TOKEN=${revealKey(ctx, token)}\nGATEHOUSE_INSECURE=${settings.authentik_host_insecure ? "true" : "false"}\n`,
    );
    const binary = outpost.type;
    process.stderr.write(
      [
        `Outpost "${outpost.name}" (${outpost.type}). Save the lines above as outpost.env, then run`,
        `  env $(cat outpost.env | xargs) ./gatehouse-${binary}`,
        `with the binary from \`npm run build\` (dist/gatehouse-${binary}), on any host that reaches ${host}.`,
        "authentik's AUTHENTIK_HOST / AUTHENTIK_TOKEN / AUTHENTIK_INSECURE names work too.",
        "",
      ].join("\n"),
    );
    return 0;
  });
}
