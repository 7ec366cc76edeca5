/**
 * The LDAP edge: an ldapjs server that routes binds and searches to the right provider by base DN,
 * keeps per-DN bind flags for this instance, and answers searches from the provider's directory. Write
 * operations are refused with unwillingToPerform.
 */
import ldap from "ldapjs";
import type { Logger } from "../../shared/log.ts";
import { VERSION } from "../../shared/version.ts";
import type { Entry } from "./directory.ts";
import type { BindFlags, BindResult, Provider } from "./kind.ts";

export interface LdapServerOptions {
  listen: { hostname: string; port: number };
  /** LDAPS: its own listener with this certificate. */
  tls?: { listen: { hostname: string; port: number }; cert: string; key: string };
  providers(): Provider[];
  bind(provider: Provider, dn: string, password: string, remoteIp: string): Promise<BindResult>;
  log: Logger;
}

export interface LdapServer {
  port: number;
  tlsPort: number | undefined;
  close(): Promise<void>;
}

/** The parts of ldapjs's request and response objects used here (its published types lag v3). */
interface Connection {
  remoteAddress?: string;
  ldap: { bindDN: { toString(): string } };
}
interface BindReq {
  dn: { toString(): string };
  credentials?: string;
  connection: Connection;
}
interface SearchReq {
  dn: { toString(): string };
  scopeName: "base" | "single" | "subtree";
  attributes: string[];
  sizeLimit: number;
  filter: { matches(entry: Record<string, string[]>, strictAttrCase: boolean): boolean };
  connection: Connection;
}
interface Res {
  send(entry: unknown): void;
  end(): void;
  responseValue?: string;
  messageId: number;
}

/**
 * A ready SearchEntry, so ldapjs sends it as it is: its own attribute selection compares requested
 * names case-sensitively (asking for "memberOf" dropped it), so `select` does the selection instead.
 */
function searchEntry(res: Res, entry: Entry): unknown {
  const { SearchEntry, Attribute, parseDN } = ldap as unknown as {
    SearchEntry: new (o: { objectName: unknown; messageId: number; attributes: unknown }) => unknown;
    Attribute: { fromObject(o: Record<string, string[]>): unknown };
    parseDN(dn: string): unknown;
  };
  return new SearchEntry({
    objectName: parseDN(entry.dn),
    messageId: res.messageId,
    attributes: Attribute.fromObject(entry.attributes),
  });
}
type Next = (err?: unknown) => void;

const norm = (dn: string) =>
  dn
    .replace(/\s*,\s*/g, ",")
    .trim()
    .toLowerCase();

/** The provider whose base DN is the longest suffix of `dn`. */
function providerFor(providers: Provider[], dn: string): Provider | undefined {
  const target = norm(dn);
  let best: Provider | undefined;
  for (const p of providers) {
    const base = norm(p.config.base_dn);
    if (
      (target === base || target.endsWith(`,${base}`)) &&
      (!best || base.length > norm(best.config.base_dn).length)
    )
      best = p;
  }
  return best;
}

function inScope(entryDn: string, base: string, scope: string): boolean {
  const e = norm(entryDn);
  const b = norm(base);
  if (scope === "base") return e === b;
  if (!(e === b || e.endsWith(`,${b}`))) return false;
  if (scope === "one") return e !== b && e.slice(0, e.length - b.length - 1).split(/(?<!\\),/).length === 1;
  return true;
}

/** A non-searching user sees their own entry and the groups they belong to, with `member` trimmed to them. */
function visible(provider: Provider, flags: BindFlags, bindDn: string): Entry[] {
  if (flags.canSearch) return provider.directory.entries;
  const me = norm(bindDn);
  const own = provider.directory.byDn.get(me);
  if (!own) return [];
  const groups = provider.directory.entries
    .filter(
      (e) =>
        (e.attributes.member ?? []).some((m) => norm(m) === me) &&
        !norm(e.dn).includes(",ou=virtual-groups,"),
    )
    .map((e) => ({ ...e, attributes: { ...e.attributes, member: [own.dn] } }));
  return [own, ...groups];
}

/**
 * The attributes a search asked for: all user attributes for none or `*`, none for `1.1`, else the
 * named ones (case-insensitive). Done here because ldapjs compares requested names case-sensitively.
 */
function select(entry: Entry, requested: string[]): Entry {
  const wanted = requested.map((a) => a.toLowerCase());
  if (wanted.length === 0 || wanted.includes("*")) return entry;
  if (wanted.length === 1 && wanted[0] === "1.1") return { dn: entry.dn, attributes: {} };
  const attributes: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(entry.attributes))
    if (wanted.includes(name.toLowerCase())) attributes[name] = values;
  return { dn: entry.dn, attributes };
}

function rootDse(providers: Provider[]): Entry {
  const bases = providers.map((p) => p.config.base_dn);
  return {
    dn: "",
    attributes: {
      objectClass: ["top"],
      supportedLDAPVersion: ["3"],
      subschemaSubentry: ["cn=subschema"],
      namingContexts: bases,
      rootDomainNamingContext: bases.slice(0, 1),
      vendorName: ["goauthentik.io"],
      vendorVersion: [`Gatehouse LDAP Outpost ${VERSION}`],
      supportedExtension: ["1.3.6.1.4.1.4203.1.11.3"],
    },
  };
}

export async function startLdapServer(o: LdapServerOptions): Promise<LdapServer> {
  // Bind flags are per outpost instance, shared by the plain and the TLS listener.
  const flags = new Map<string, BindFlags>();
  const plain = await listen(ldap.createServer(), o.listen, o, flags);
  const tls = o.tls
    ? await listen(
        ldap.createServer({ certificate: o.tls.cert, key: o.tls.key } as never),
        o.tls.listen,
        o,
        flags,
      )
    : undefined;
  return {
    port: plain.port,
    tlsPort: tls?.port,
    close: async () => {
      await plain.close();
      await tls?.close();
    },
  };
}

async function listen(
  server: ReturnType<typeof ldap.createServer>,
  address: { hostname: string; port: number },
  o: LdapServerOptions,
  flags: Map<string, BindFlags>,
): Promise<{ port: number; close(): Promise<void> }> {
  server.bind("", async (req: BindReq, res: Res, next: Next) => {
    const dn = req.dn.toString();
    const password = String(req.credentials ?? "");
    if (!dn && !password) {
      res.end();
      return next();
    }
    const provider = providerFor(o.providers(), dn);
    if (!provider) return next(new ldap.InsufficientAccessRightsError("no provider serves this DN"));
    const remote = req.connection.remoteAddress ?? "";
    const result = await o.bind(provider, dn, password, remote.replace(/^::ffff:/, ""));
    if (!result.ok) {
      flags.delete(norm(dn));
      if (result.code === "invalid") return next(new ldap.InvalidCredentialsError());
      if (result.code === "denied") return next(new ldap.InsufficientAccessRightsError());
      if (result.code === "unavailable") return next(new ldap.UnavailableError());
      return next(new ldap.OperationsError());
    }
    flags.set(norm(dn), result.flags);
    res.end();
    return next();
  });

  server.search("", (req: SearchReq, res: Res, next: Next) => {
    const base = req.dn.toString();
    const scope = req.scopeName === "single" ? "one" : req.scopeName === "subtree" ? "sub" : "base";
    if (norm(base) === "" && scope === "base") {
      res.send(searchEntry(res, select(rootDse(o.providers()), req.attributes)));
      res.end();
      return next();
    }
    const bindDn = req.connection.ldap.bindDN.toString();
    if (!bindDn || norm(bindDn) === "cn=anonymous")
      return next(new ldap.InsufficientAccessRightsError("bind first"));
    const provider = providerFor(o.providers(), base) ?? providerFor(o.providers(), bindDn);
    const bound = flags.get(norm(bindDn));
    if (!provider || !bound || !providerFor([provider], bindDn))
      return next(new ldap.InsufficientAccessRightsError());
    let sent = 0;
    for (const entry of visible(provider, bound, bindDn)) {
      if (!inScope(entry.dn, base, scope)) continue;
      const lower = Object.fromEntries(
        Object.entries(entry.attributes).map(([k, v]) => [k.toLowerCase(), v]),
      );
      if (!req.filter.matches(lower, false)) continue;
      if (req.sizeLimit > 0 && sent >= req.sizeLimit) return next(new ldap.SizeLimitExceededError());
      res.send(searchEntry(res, select(entry, req.attributes)));
      sent++;
    }
    res.end();
    return next();
  });

  // WhoAmI (RFC 4532): the bound DN, or nothing for an anonymous connection.
  server.exop("1.3.6.1.4.1.4203.1.11.3", (req: BindReq, res: Res, next: Next) => {
    const dn = req.connection.ldap.bindDN.toString();
    res.responseValue = dn && norm(dn) !== "cn=anonymous" ? `dn:${dn}` : "";
    res.end();
    return next();
  });

  const refuse = (_req: unknown, _res: unknown, next: Next) =>
    next(new ldap.UnwillingToPerformError("Gatehouse's LDAP is read-only"));
  server.add("", refuse);
  server.modify("", refuse);
  server.del("", refuse);
  server.modifyDN("", refuse);

  await new Promise<void>((resolve) => server.listen(address.port, address.hostname, () => resolve()));
  const bound = (server as unknown as { address(): { port: number } }).address();
  return {
    port: bound.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
