/**
 * The LDAP outpost: fetches its providers with the directory each serves, answers binds by running the
 * provider's bind flow (then its access check) and searches from the in-memory directory.
 */
import { createSecureContext, type SecureContext } from "node:tls";
import { Gauge } from "../../shared/metrics.ts";
import { type ApiClient, NotFound } from "../runtime/api.ts";
import { selfSignedCertificate } from "../runtime/certificate.ts";
import { CredentialCache } from "../runtime/credential-cache.ts";
import { runFlow, splitMfa } from "../runtime/flow.ts";
import type { OutpostInstance, OutpostKind, OutpostRuntimeContext } from "../runtime/runtime.ts";
import {
  buildDirectory,
  type Directory,
  type DirectoryGroup,
  type DirectoryUser,
  usernameFromDn,
} from "./directory.ts";
import { SearchIndex } from "./search-index.ts";
import { type LdapServer, startLdapServer } from "./server.ts";

export interface LdapProviderConfig {
  pk: number;
  name: string;
  base_dn: string;
  bind_flow_slug: string;
  application_slug: string;
  uid_start_number: number;
  gid_start_number: number;
  mfa_support: boolean;
  certificate: string | null;
  tls_server_name: string;
}

export interface LdapOutpostConfig {
  providers: LdapProviderConfig[];
  users: DirectoryUser[];
  groups: DirectoryGroup[];
  /** The providers' certificate-key pairs by uuid (PEM), fetched with the outpost's token. */
  certificates?: Record<string, { cert: string; key: string }>;
}

export interface Provider {
  config: LdapProviderConfig;
  directory: Directory;
  index: SearchIndex;
}

/** What a successful bind leaves for the searches that follow on this instance. */
export interface BindFlags {
  userPk: number;
  canSearch: boolean;
}

export type BindResult =
  | { ok: true; flags: BindFlags }
  | { ok: false; code: "invalid" | "denied" | "error" | "unavailable"; message: string };

export interface LdapKindOptions {
  host: string;
  token: string;
  listen: { hostname: string; port: number };
  /** LDAPS; a self-signed certificate is made at start until providers' certificates are served. */
  listenTls?: { hostname: string; port: number };
}

export function ldapKind(
  options: LdapKindOptions,
): OutpostKind<LdapOutpostConfig> & { server(): LdapServer | undefined } {
  let providers: Provider[] = [];
  let server: LdapServer | undefined;
  let log: OutpostRuntimeContext["log"] | undefined;

  // TLS: each provider's certificate answers for its tls_server_name (SNI); the first provider with a
  // certificate is the default, and without any, a self-signed one made at start.
  let selfSigned: { cert: string; key: string } | undefined;
  let defaultCertificate: { cert: string; key: string } | undefined;
  let byName = new Map<string, SecureContext>();

  const apply = (config: LdapOutpostConfig) => {
    providers = config.providers.map((p) => {
      const directory = buildDirectory(p, config.users, config.groups);
      return { config: p, directory, index: new SearchIndex(directory.entries) };
    });
    const names = new Map<string, SecureContext>();
    defaultCertificate = undefined;
    for (const p of config.providers) {
      const pair = p.certificate ? config.certificates?.[p.certificate] : undefined;
      if (!pair?.key) continue;
      try {
        const context = createSecureContext(pair);
        defaultCertificate ??= pair;
        if (p.tls_server_name) names.set(p.tls_server_name.toLowerCase(), context);
      } catch (err) {
        log?.warn("a provider's certificate cannot be used for TLS", {
          provider: p.name,
          error: (err as Error).message,
        });
      }
    }
    byName = names;
  };

  const cache = new CredentialCache<BindFlags>();

  const bind = async (
    provider: Provider,
    dn: string,
    secret: string,
    remoteIp: string,
  ): Promise<BindResult> => {
    const cached = cache.get(provider.config.pk, dn, secret);
    if (cached) return { ok: true, flags: cached };
    const result = await bindThroughFlow(provider, dn, secret, remoteIp);
    if (result.ok) cache.set(provider.config.pk, dn, secret, result.flags);
    return result;
  };

  const bindThroughFlow = async (
    provider: Provider,
    dn: string,
    secret: string,
    remoteIp: string,
  ): Promise<BindResult> => {
    const username = usernameFromDn(dn, provider.config.base_dn);
    if (!username)
      return { ok: false, code: "denied", message: "the bind DN is not a user of this provider" };
    const { password, code } = provider.config.mfa_support
      ? splitMfa(secret)
      : { password: secret, code: undefined };
    const outcome = await runFlow(
      provider.config.bind_flow_slug,
      { username, password, ...(code && { code }) },
      { host: options.host, token: options.token, query: "goauthentik.io/outpost/ldap=true", remoteIp },
    );
    if (!outcome.ok) {
      log?.info("bind refused", { dn, reason: outcome.reason });
      return {
        ok: false,
        code: outcome.reason === "error" ? "unavailable" : "invalid",
        message: outcome.message,
      };
    }
    const url = `${options.host.replace(/\/+$/, "")}/api/v3/outposts/ldap/${provider.config.pk}/check_access/?app_slug=${encodeURIComponent(provider.config.application_slug)}`;
    try {
      const res = await fetch(url, {
        headers: { cookie: outcome.cookie },
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) return { ok: false, code: "error", message: `check_access answered ${res.status}` };
      const access = (await res.json()) as { has_search_permission?: boolean; access: { passing: boolean } };
      if (!access.access.passing)
        return { ok: false, code: "denied", message: "access to the application is denied" };
      const userPk = provider.directory.userPk.get(dn.toLowerCase().replace(/\s*,\s*/g, ","));
      return { ok: true, flags: { userPk: userPk ?? -1, canSearch: Boolean(access.has_search_permission) } };
    } catch (err) {
      return { ok: false, code: "unavailable", message: (err as Error).message };
    }
  };

  return {
    type: "ldap",
    async fetch(api: ApiClient, _outpost: OutpostInstance): Promise<LdapOutpostConfig> {
      const [providerList, users, groups] = await Promise.all([
        api.all<LdapProviderConfig>("/outposts/ldap/"),
        api.all<DirectoryUser>("/core/users/?include_groups=false"),
        api.all<DirectoryGroup>("/core/groups/?include_users=false"),
      ]);
      const certificates: Record<string, { cert: string; key: string }> = {};
      for (const uuid of new Set(providerList.flatMap((p) => (p.certificate ? [p.certificate] : [])))) {
        const [cert, key] = await Promise.all([
          api.get<{ data: string }>(`/crypto/certificatekeypairs/${uuid}/view_certificate/`),
          api.get<{ data: string }>(`/crypto/certificatekeypairs/${uuid}/view_private_key/`),
        ]);
        certificates[uuid] = { cert: cert.data, key: key.data };
      }
      return { providers: providerList, users, groups, certificates };
    },
    /** Fetches only the users and groups TRIGGER_UPDATE named, and patches them into the directory. */
    async update(api, current, change) {
      const users = change.users.length
        ? await api.all<DirectoryUser>(`/core/users/?include_groups=false&pk=${change.users.join(",")}`)
        : [];
      const groups: DirectoryGroup[] = [];
      for (const uuid of change.groups) {
        try {
          groups.push(
            await api.get<DirectoryGroup>(`/core/groups/${encodeURIComponent(uuid)}/?include_users=false`),
          );
        } catch (err) {
          if (!(err instanceof NotFound)) throw err; // deleted: it just goes
        }
      }
      const changedUsers = new Set(change.users);
      const changedGroups = new Set(change.groups.map((g) => g.toLowerCase()));
      return {
        ...current,
        users: [...current.users.filter((u) => !changedUsers.has(u.pk)), ...users],
        groups: [...current.groups.filter((g) => !changedGroups.has(g.pk.toLowerCase())), ...groups],
      };
    },
    async start(config, ctx) {
      log = ctx.log;
      apply(config);
      selfSigned = await selfSignedCertificate("Gatehouse LDAP");
      const tls = options.listenTls
        ? {
            listen: options.listenTls,
            defaultCertificate: () => defaultCertificate ?? (selfSigned as { cert: string; key: string }),
            forName: (name: string) => byName.get(name.toLowerCase()),
          }
        : undefined;
      server = await startLdapServer({
        listen: options.listen,
        ...(tls && { tls }),
        providers: () => providers,
        bind,
        log: ctx.log,
      });
      ctx.log.info("ldap outpost listening", {
        port: server.port,
        tls_port: server.tlsPort,
        providers: providers.length,
      });
    },
    async refresh(config) {
      cache.clear();
      apply(config);
      server?.reloadCertificates();
    },
    invalidate: () => cache.clear(),
    sessionEnd: () => cache.clear(),
    revoked: () => {
      cache.clear();
      providers = [];
    },
    registerMetrics(registry) {
      new Gauge({
        name: "gatehouse_ldap_directory_entries",
        help: "Entries in each provider's in-memory directory",
        labelNames: ["provider"] as const,
        registers: [registry],
        collect() {
          this.reset();
          for (const p of providers) this.set({ provider: p.config.name }, p.index.all.length);
        },
      });
      new Gauge({
        name: "gatehouse_ldap_cached_binds",
        help: "Verified binds held in the credential cache",
        registers: [registry],
        collect() {
          this.set(cache.size);
        },
      });
    },
    async stop() {
      await server?.close();
    },
    server: () => server,
  };
}
