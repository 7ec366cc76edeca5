/** The `gatehouse` command: serve (default), migrate, create-admin, create-token, healthcheck. */
import { parseArgs } from "node:util";
import { ConfigError } from "../../shared/config/load.ts";
import { createLogger, type Logger } from "../../shared/log.ts";
import { VERSION } from "../../shared/version.ts";
import { createAdmin, createApiToken, healthcheck, migrate, outpostDeployment } from "./cli/commands.ts";
import { serve } from "./cli/serve.ts";
import { type CoreConfig, loadCoreConfig } from "./config/index.ts";

const HELP = `gatehouse ${VERSION} — identity provider and single sign-on

Usage: gatehouse [command] [options]

Commands:
  serve                       start the core (default)
  migrate                     bring the store's schema up to date and exit
  create-admin <username>     create a superuser; prints a generated password
        [--email E] [--password-stdin]
  create-token <username>     create an API token for a user; prints its key once
        [--identifier ID] [--expires-days N | --no-expiry] [--description TEXT]
  healthcheck                 exit 0 when the local core answers /-/health/ready/
  outpost-deployment <name>   print an outpost's environment (GATEHOUSE_HOST, GATEHOUSE_TOKEN, …)
        [--host URL]          and how to run it

Options:
  --help, --version

Settings come from GATEHOUSE_* environment variables and an optional YAML file named by
GATEHOUSE_CONFIG; see the README for every key.`;

const OPTIONS = {
  help: { type: "boolean" },
  version: { type: "boolean" },
  email: { type: "string" },
  "password-stdin": { type: "boolean" },
  identifier: { type: "string" },
  "expires-days": { type: "string" },
  "no-expiry": { type: "boolean" },
  description: { type: "string" },
  host: { type: "string" },
} as const;

async function main(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(argv);
  if (!parsed) return 2;
  const { values, positionals } = parsed;
  if (values.help) return print(HELP);
  if (values.version) return print(VERSION);
  const [command = "serve", ...rest] = positionals;

  const { config, log } = loadConfigOrExit(command === "serve" ? "stdout" : "stderr");
  switch (command) {
    case "serve":
      return serve(config, log);
    case "migrate":
      return migrate(config, log);
    case "create-admin":
      return createAdmin(config, log, need(rest[0], "create-admin needs a username"), {
        email: values.email,
        passwordFromStdin: values["password-stdin"] ?? false,
      });
    case "create-token":
      return createApiToken(config, log, need(rest[0], "create-token needs a username"), {
        identifier: values.identifier,
        expiresDays: values["no-expiry"] ? null : Number(values["expires-days"] ?? 365),
        description: values.description,
      });
    case "healthcheck":
      return healthcheck(config);
    case "outpost-deployment":
      return outpostDeployment(config, log, need(rest[0], "outpost-deployment needs an outpost name"), {
        host: values.host,
      });
    default:
      process.stderr.write(`unknown command "${command}"\n\n${HELP}\n`);
      return 2;
  }
}

/** The parsed arguments, or undefined after printing a usage error (like an unknown command's). */
function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}\n`);
    return undefined;
  }
}

function print(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}

function need(value: string | undefined, message: string): string {
  if (!value) {
    process.stderr.write(`${message}\n`);
    process.exit(2);
  }
  return value;
}

/** One-shot commands log to stderr: their stdout is their result (a token key a script captures). */
function loadConfigOrExit(logTo: "stdout" | "stderr"): { config: CoreConfig; log: Logger } {
  try {
    const { values, warnings } = loadCoreConfig();
    const log = createLogger({
      level: values["log.level"],
      write: (line) => process[logTo].write(`${line}\n`),
    });
    for (const warning of warnings) log.warn(warning, { code: "CF0001UnknownVariable" });
    return { config: values, log };
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`gatehouse: ${err instanceof Error ? err.message : String(err)}\n`);
    // Exit now: a store opened before the failure (a PostgreSQL pool) would keep the process alive.
    process.exit(1);
  },
);
