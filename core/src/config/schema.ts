/** Every core setting, its default and what it does. The README's settings table is generated from this. */
import { bool, int, listen, oneOf, optionalSecret, str } from "../../../shared/config/schema.ts";
import { DEFAULT_TRUSTED_PROXY_CIDRS } from "../../../shared/networks.ts";

export const coreConfigSchema = {
  data_dir: str("./data", "Directory for the embedded SQLite store and other local state."),
  secret_key: optionalSecret(
    "Key that seals token keys kept for view_key and signs cookies. When unset, one is generated and kept in the store; set it so a database dump alone reveals nothing.",
    ["AUTHENTIK_SECRET_KEY"],
  ),
  blueprints_dir: str(
    "",
    "A directory of blueprint YAML files applied at start, after the built-in ones (again whenever a file changes).",
  ),
  "listen.http": listen(
    "0.0.0.0:9000",
    "Address the core's HTTP server (API, UI, health, metrics) listens on.",
  ),
  "listen.ldap": listen("0.0.0.0:3389", "Plain LDAP (and StartTLS) listener of the embedded LDAP outpost."),
  "listen.ldaps": listen("0.0.0.0:6636", "LDAPS listener of the embedded LDAP outpost."),
  "listen.radius": listen("0.0.0.0:1812", "RADIUS (UDP) listener of the embedded RADIUS outpost."),
  "listen.trusted_proxy_cidrs": str(
    DEFAULT_TRUSTED_PROXY_CIDRS,
    "Comma-separated networks of reverse proxies in front of the core: from them, X-Forwarded-For (or X-Real-IP) names the client that events, logs and policies see; from any other address it is ignored. Empty: trust none.",
    { aliases: ["AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS"] },
  ),
  "outposts.embedded": bool(
    true,
    "Run the embedded outposts in the core (LDAP: listen.ldap, .ldaps; RADIUS: listen.radius; proxy: listen.http), each once it has a provider. Turn off if standalone outposts serve all providers.",
  ),
  "postgresql.url": optionalSecret(
    "PostgreSQL connection URL (postgres://user:pass@host:5432/db). When set (or host is set), PostgreSQL replaces SQLite.",
  ),
  "postgresql.host": str("", "PostgreSQL host; an alternative to postgresql.url.", {
    aliases: ["AUTHENTIK_POSTGRESQL__HOST"],
  }),
  "postgresql.port": int(5432, "PostgreSQL port.", 1, 65535),
  "postgresql.name": str("gatehouse", "PostgreSQL database name.", {
    aliases: ["AUTHENTIK_POSTGRESQL__NAME"],
  }),
  "postgresql.user": str("gatehouse", "PostgreSQL user.", { aliases: ["AUTHENTIK_POSTGRESQL__USER"] }),
  "postgresql.password": optionalSecret("PostgreSQL password.", ["AUTHENTIK_POSTGRESQL__PASSWORD"]),
  "postgresql.pool_max": int(10, "Most connections one core process opens to PostgreSQL.", 1, 1000),
  "log.level": oneOf(["debug", "info", "warn", "error"] as const, "info", "Lowest level written to the log."),
  "http.max_body_bytes": int(1_048_576, "Largest request body accepted; larger ones get 413.", 1024),
  "http.shutdown_grace_ms": int(
    10_000,
    "How long in-flight requests may run after SIGTERM before the store closes.",
    0,
  ),
  "events.retention_days": int(365, "Days an event is kept before the worker deletes it.", 1),
  "sessions.duration_hours": int(24 * 14, "Lifetime of a browser session when no flow sets one.", 1),
  "email.host": str("localhost", "SMTP server for email stages that use the global settings."),
  "email.port": int(25, "SMTP port.", 1, 65535),
  "email.username": str("", "SMTP user name (empty: no authentication)."),
  "email.password": optionalSecret("SMTP password.", ["AUTHENTIK_EMAIL__PASSWORD"]),
  "email.use_tls": bool(false, "Upgrade the SMTP connection with STARTTLS."),
  "email.use_ssl": bool(false, "Connect to the SMTP server over TLS from the start (port 465)."),
  "email.timeout": int(10, "Seconds to wait for the SMTP server.", 1, 600),
  "email.from": str("gatehouse@localhost", "Sender address of emails Gatehouse sends."),
  "reputation.lower_limit": int(
    -5,
    "Lowest reputation score a username or address can fall to.",
    -1_000_000,
    0,
  ),
  "reputation.upper_limit": int(
    5,
    "Highest reputation score a username or address can rise to.",
    0,
    1_000_000,
  ),
  "reputation.expiry_seconds": int(86_400, "Seconds a reputation score is kept after its last change.", 1),
  bootstrap_password: optionalSecret("Password for akadmin, set on first start against an empty store.", [
    "AUTHENTIK_BOOTSTRAP_PASSWORD",
  ]),
  bootstrap_email: str("root@localhost", "Email of akadmin, set on first start.", {
    aliases: ["AUTHENTIK_BOOTSTRAP_EMAIL"],
  }),
  bootstrap_token: optionalSecret("API token key for akadmin, created on first start.", [
    "AUTHENTIK_BOOTSTRAP_TOKEN",
  ]),
  "cookie.secure": bool(false, "Mark cookies Secure even when the request did not arrive over HTTPS."),
  "oauth2.pkce_plain": bool(
    false,
    "Accept PKCE's `plain` code challenge method (RFC 7636) as well as S256. Off: only S256, as OAuth 2.1 asks.",
  ),
} as const;

export type CoreConfigSchema = typeof coreConfigSchema;

/** Environment names that tests and tools read, which are not settings but are expected. */
export const CORE_KNOWN_ENV = [
  "GATEHOUSE_TEST_POSTGRES_URL",
  "GATEHOUSE_E2E_REQUIRED",
  "GATEHOUSE_HOST",
  "GATEHOUSE_TOKEN",
  "GATEHOUSE_INSECURE",
] as const;
