/**
 * The LDAP edge: an ldapjs server that routes binds and searches to the right provider by base DN,
 * keeps per-DN bind flags for this instance, and answers searches from the provider's directory. Write
 * operations are refused with unwillingToPerform.
 */
import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import ldap from "ldapjs";
import type { Logger } from "../../shared/log.ts";
import { VERSION } from "../../shared/version.ts";
import type { Entry } from "./directory.ts";
import type { BindFlags, BindResult, Provider } from "./kind.ts";
import { SUBSCHEMA_DN, subschemaEntry } from "./schema.ts";
import { encodeEntry, type IndexedEntry, prepare } from "./search-index.ts";

export interface LdapServerOptions {
  listen: { hostname: string; port: number };
  /** LDAPS: its own listener with this certificate. */
  tls?: LdapTls;
  providers(): Provider[];
  bind(provider: Provider, dn: string, password: string, remoteIp: string): Promise<BindResult>;
  log: Logger;
}

/**
 * The certificates TLS is served with (LDAPS and StartTLS): the one for a client's SNI name when a
 * provider's tls_server_name matches it, else the default.
 */
export interface LdapTls {
  listen: { hostname: string; port: number };
  /** The certificate for clients that name no server, or one no provider claims. */
  defaultCertificate(): { cert: string; key: string };
  /** A provider's certificate for this SNI name, if one claims it. */
  forName(servername: string): SecureContext | undefined;
}

export interface LdapServer {
  port: number;
  tlsPort: number | undefined;
  /** Re-reads the default certificate (after a configuration refresh). */
  reloadCertificates(): void;
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
interface CompareReq {
  entry: { toString(): string };
  attribute: string;
  value: string | Buffer;
  connection: Connection;
}
interface Control {
  type: string;
  criticality: boolean;
  value?: unknown;
}
interface SearchReq {
  dn: { toString(): string };
  scopeName: "base" | "single" | "subtree";
  attributes: string[];
  sizeLimit: number;
  filter: {
    matches(entry: Record<string, string[]>, strictAttrCase: boolean): boolean;
    toString(): string;
  };
  controls: Control[];
  connection: Connection;
}
interface Res {
  send(entry: unknown): void;
  addControl(control: unknown): void;
  end(): void;
  toBer(): { buffer: Buffer };
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

/** Whether a (normalized) entry DN is within the (normalized) base at this scope. */
function inScope(e: string, b: string, scope: string): boolean {
  if (scope === "base") return e === b;
  if (!(e === b || e.endsWith(`,${b}`))) return false;
  if (scope === "one") return e !== b && e.slice(0, e.length - b.length - 1).split(/(?<!\\),/).length === 1;
  return true;
}

/** A non-searching user sees their own entry and the groups they belong to, with `member` trimmed to them. */
function visible(
  provider: Provider,
  flags: BindFlags,
  bindDn: string,
  filter?: SearchReq["filter"],
): IndexedEntry[] {
  if (flags.canSearch) return filter ? provider.index.candidates(filter as never) : provider.index.all;
  const own = provider.index.byDn.get(norm(bindDn));
  if (!own) return [];
  const groups = provider.index
    .groupsWithMember(bindDn)
    .filter((g) => !g.normDn.includes(",ou=virtual-groups,"))
    .map((g) => prepare({ ...g.entry, attributes: { ...g.entry.attributes, member: [own.entry.dn] } }));
  return [own, ...groups];
}

/** Replies gathered before a socket write: a search goes out in as few writes as possible. */
const FLUSH_BYTES = 256 * 1024;

/**
 * A search's replies: each entry encoded once per entry and attribute selection (then wrapped for this
 * request), gathered and written with the SearchResultDone in one write (writes are what a small
 * search costs most). A client that stops reading is dropped once MAX_UNREAD_BYTES pile up.
 */
class Replies {
  private parts: Buffer[] = [];
  private size = 0;
  private readonly socket: Socket;
  private readonly key: string;

  constructor(
    private readonly req: SearchReq,
    private readonly res: Res,
  ) {
    this.socket = req.connection as unknown as Socket;
    this.key = req.attributes.map((a) => a.toLowerCase()).join("\0");
  }

  /** Queues an entry; false when the client has stopped reading (the connection is then closed). */
  entry(indexed: IndexedEntry): boolean {
    const reply = encodeEntry(
      indexed,
      this.key,
      () => select(indexed.entry, this.req.attributes),
      this.res.messageId,
    );
    this.parts.push(reply);
    this.size += reply.length;
    if (this.size >= FLUSH_BYTES) {
      if ((this.socket.writableLength ?? 0) > MAX_UNREAD_BYTES) {
        this.socket.destroy();
        return false;
      }
      this.flush();
    }
    return true;
  }

  /** Writes what is queued (before an error result, which ldapjs sends itself). */
  flush(): void {
    if (this.parts.length === 0) return;
    this.socket.write(this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts));
    this.parts = [];
    this.size = 0;
  }

  /** The queued entries and the successful SearchResultDone, in one write. */
  done(): void {
    this.parts.push(this.res.toBer().buffer);
    this.flush();
  }
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

const WHO_AM_I = "1.3.6.1.4.1.4203.1.11.3";
const START_TLS = "1.3.6.1.4.1.1466.20037";

/** The subschema's attributes are operational: `+` or their names ask for them, `*` gives the rest. */
function selectSubschema(entry: Entry, requested: string[]): Entry {
  const wanted = requested.map((a) => a.toLowerCase());
  const operational = ["attributetypes", "objectclasses"];
  const attributes: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(entry.attributes)) {
    const lower = name.toLowerCase();
    const asked = operational.includes(lower)
      ? wanted.includes("+") || wanted.includes(lower)
      : wanted.length === 0 || wanted.includes("*") || wanted.includes(lower);
    if (asked) attributes[name] = values;
  }
  return { dn: entry.dn, attributes };
}

function rootDse(providers: Provider[], startTls: boolean): Entry {
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
      supportedExtension: startTls ? [WHO_AM_I, START_TLS] : [WHO_AM_I],
      supportedControl: [PAGED_RESULTS],
    },
  };
}

/** RFC 2696 simple paged results. */
const PAGED_RESULTS = "1.2.840.113556.1.4.319";
/** Controls a search may carry that change nothing here, so even a critical one is fine. */
const HARMLESS_CONTROLS = new Set([
  "2.16.840.1.113730.3.4.2", // ManageDsaIT: there are no referrals
  "1.3.6.1.4.1.42.2.27.8.5.1", // password policy request: binds answer plainly
]);
/** Open paged searches a connection may hold before the oldest is dropped. */
const MAX_CURSORS = 8;

interface Cursor {
  /** The search this cursor continues: a client must not swap it between pages. */
  key: string;
  entries: IndexedEntry[];
  offset: number;
  /** The size limit cut the result set short: the last page ends with sizeLimitExceeded. */
  truncated: boolean;
}

const cursors = new WeakMap<object, Map<string, Cursor>>();

function cursorsOf(connection: Connection): Map<string, Cursor> {
  let open = cursors.get(connection);
  if (!open) {
    open = new Map();
    cursors.set(connection, open);
  }
  return open;
}

/** The largest LDAP message a client may send (binds and searches are a few hundred bytes). */
const MAX_MESSAGE_BYTES = 256 * 1024;
/** Unread replies a connection may pile up before it is dropped (a client that never reads). */
const MAX_UNREAD_BYTES = 16 * 1024 * 1024;

/**
 * Takes over a connection's reads from ldapjs: the same parser, without ldapjs formatting every chunk
 * for a trace log nobody reads, and closing the connection when a half-received message outgrows
 * MAX_MESSAGE_BYTES (ldapjs would buffer whatever length a message claims).
 */
function guard(socket: Socket, log: Logger): void {
  const parser = (socket as unknown as { parser?: { buffer?: Buffer | null; write(data: Buffer): void } })
    .parser;
  if (!parser) return;
  socket.removeAllListeners("data");
  socket.on("data", (data: Buffer) => {
    parser.write(data);
    if ((parser.buffer?.length ?? 0) > MAX_MESSAGE_BYTES) {
      log.info("ldap message too large; connection closed", {
        client: socket.remoteAddress,
        limit: MAX_MESSAGE_BYTES,
      });
      parser.buffer = null;
      socket.destroy();
    }
  });
}

interface CertificateOptions {
  current(): SecureContext;
  reload(): void;
  SNICallback(servername: string, done: (err: Error | null, ctx?: SecureContext) => void): void;
}

function certificateOptions(tls: LdapTls): CertificateOptions {
  let current = createSecureContext(tls.defaultCertificate());
  return {
    current: () => current,
    reload: () => {
      current = createSecureContext(tls.defaultCertificate());
    },
    SNICallback: (servername, done) => done(null, tls.forName(servername) ?? current),
  };
}

/**
 * ldapjs parses a request's DN up to three times (routing, the bind, the connection's bind DN), and
 * the same DN strings arrive over and over: parse each once. ldapjs only reads the parsed objects.
 */
function memoizeDnParsing(): void {
  const DN = (ldap as unknown as { DN: { fromString: ((dn: unknown) => unknown) & { memoized?: true } } }).DN;
  if (DN.fromString.memoized) return;
  const parse = DN.fromString.bind(DN);
  const parsed = new Map<string, unknown>();
  const memoized = Object.assign(
    (dn: unknown) => {
      if (typeof dn !== "string") return parse(dn);
      let found = parsed.get(dn);
      if (found === undefined) {
        found = parse(dn);
        if (parsed.size >= 10_000) parsed.delete(parsed.keys().next().value as string);
        parsed.set(dn, found);
      }
      return found;
    },
    { memoized: true as const },
  );
  DN.fromString = memoized;
}

export async function startLdapServer(o: LdapServerOptions): Promise<LdapServer> {
  memoizeDnParsing();
  // Bind flags are per outpost instance, shared by the plain and the TLS listener.
  const flags = new Map<string, BindFlags>();
  const tlsOptions = o.tls && certificateOptions(o.tls);
  const plain = await listen(ldap.createServer(), o.listen, o, flags, tlsOptions);
  let tls: Awaited<ReturnType<typeof listen>> | undefined;
  try {
    tls = o.tls
      ? await listen(
          ldap.createServer({
            certificate: o.tls.defaultCertificate().cert,
            key: o.tls.defaultCertificate().key,
            SNICallback: tlsOptions?.SNICallback,
          } as never),
          o.tls.listen,
          o,
          flags,
        )
      : undefined;
  } catch (err) {
    await plain.close();
    throw err;
  }
  return {
    port: plain.port,
    tlsPort: tls?.port,
    reloadCertificates() {
      if (!o.tls || !tlsOptions) return;
      tlsOptions.reload();
      // The LDAPS listener's own default (used without SNI) is swapped in place.
      (
        tls?.raw as { setSecureContext?(options: { cert: string; key: string }): void } | undefined
      )?.setSecureContext?.(o.tls.defaultCertificate());
    },
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
  startTls?: CertificateOptions,
): Promise<{ port: number; raw: import("node:net").Server; close(): Promise<void> }> {
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
      res.send(searchEntry(res, select(rootDse(o.providers(), startTls !== undefined), req.attributes)));
      res.end();
      return next();
    }
    if (norm(base) === SUBSCHEMA_DN) {
      if (scope === "base" && req.filter.matches({ objectclass: ["top", "subSchema"] }, false))
        res.send(searchEntry(res, selectSubschema(subschemaEntry(), req.attributes)));
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
    const unknown = req.controls.find(
      (c) => c.criticality && c.type !== PAGED_RESULTS && !HARMLESS_CONTROLS.has(c.type),
    );
    if (unknown) return next(new ldap.UnavailableCriticalExtensionError(`control ${unknown.type}`));
    const matching = () => {
      const found: IndexedEntry[] = [];
      const normBase = norm(base);
      for (const indexed of visible(provider, bound, bindDn, req.filter)) {
        if (inScope(indexed.normDn, normBase, scope) && req.filter.matches(indexed.lower, false))
          found.push(indexed);
      }
      return found;
    };

    const paged = req.controls.find((c) => c.type === PAGED_RESULTS);
    if (paged)
      return pagedSearch(req, res, next, paged, `${bindDn}\0${base}\0${scope}\0${req.filter}`, matching);

    const replies = new Replies(req, res);
    let sent = 0;
    for (const entry of matching()) {
      if (req.sizeLimit > 0 && sent >= req.sizeLimit) {
        replies.flush();
        return next(new ldap.SizeLimitExceededError());
      }
      if (!replies.entry(entry)) return;
      sent++;
    }
    replies.done();
    return next();
  });

  /**
   * One page of a paged search: the first request takes a snapshot of the matching entries (so pages
   * neither repeat nor skip entries while the directory changes), later ones continue it by cookie.
   * A page size of 0 abandons the search. The size limit applies to the whole result set.
   */
  function pagedSearch(
    req: SearchReq,
    res: Res,
    next: Next,
    control: Control,
    key: string,
    matching: () => IndexedEntry[],
  ) {
    const { PagedResultsControl } = ldap as unknown as {
      PagedResultsControl: new (o: {
        criticality: boolean;
        value: { size: number; cookie: Buffer };
      }) => unknown;
    };
    const { size, cookie } = control.value as { size: number; cookie: Buffer };
    const open = cursorsOf(req.connection);
    const id = cookie.length > 0 ? cookie.toString("latin1") : undefined;
    let cursor: Cursor | undefined;
    if (id !== undefined) {
      cursor = open.get(id);
      if (!cursor || cursor.key !== key) {
        open.delete(id);
        return next(new ldap.UnwillingToPerformError("unknown or mismatched paged results cookie"));
      }
      open.delete(id);
    }
    const done = (nextCookie: string) => {
      res.addControl(
        new PagedResultsControl({
          criticality: false,
          value: { size: 0, cookie: Buffer.from(nextCookie, "latin1") },
        }),
      );
    };
    if (size === 0) {
      done("");
      res.end();
      return next();
    }
    if (!cursor) {
      const entries = matching();
      const truncated = req.sizeLimit > 0 && entries.length > req.sizeLimit;
      cursor = { key, entries: truncated ? entries.slice(0, req.sizeLimit) : entries, offset: 0, truncated };
    }
    const page = cursor.entries.slice(cursor.offset, cursor.offset + size);
    const replies = new Replies(req, res);
    for (const entry of page) if (!replies.entry(entry)) return;
    cursor.offset += page.length;
    if (cursor.offset < cursor.entries.length) {
      const nextId = randomBytes(12).toString("hex");
      if (open.size >= MAX_CURSORS) open.delete(open.keys().next().value as string);
      open.set(nextId, cursor);
      done(nextId);
    } else {
      done("");
      if (cursor.truncated) {
        replies.flush();
        return next(new ldap.SizeLimitExceededError());
      }
    }
    replies.done();
    return next();
  }

  // Compare (RFC 4511 §4.10), over what the bound user may see, values compared case-insensitively.
  server.compare("", (req: CompareReq, res: Res & { end(status?: number): void }, next: Next) => {
    const bindDn = req.connection.ldap.bindDN.toString();
    if (!bindDn || norm(bindDn) === "cn=anonymous")
      return next(new ldap.InsufficientAccessRightsError("bind first"));
    const dn = req.entry.toString();
    const provider = providerFor(o.providers(), dn);
    const bound = flags.get(norm(bindDn));
    if (!provider || !bound || !providerFor([provider], bindDn))
      return next(new ldap.InsufficientAccessRightsError());
    const target = norm(dn);
    const entry = visible(provider, bound, bindDn).find((e) => e.normDn === target);
    if (!entry) return next(new ldap.NoSuchObjectError(dn));
    const values = entry.lower[req.attribute.toLowerCase()];
    if (!values) return next(new ldap.NoSuchAttributeError(req.attribute));
    const value = String(req.value).toLowerCase();
    res.end(values.some((v) => v.toLowerCase() === value) ? 6 : 5);
    return next();
  });

  // WhoAmI (RFC 4532): the bound DN, or nothing for an anonymous connection.
  server.exop(WHO_AM_I, (req: BindReq, res: Res, next: Next) => {
    const dn = req.connection.ldap.bindDN.toString();
    res.responseValue = dn && norm(dn) !== "cn=anonymous" ? `dn:${dn}` : "";
    res.end();
    return next();
  });

  // StartTLS (RFC 4511 §4.14) on the plain listener: answer success in clear, then hand the socket to a
  // TLS layer and serve the same connection afresh (anonymous again) over it.
  if (startTls) {
    server.exop(START_TLS, (req: BindReq, res: Res, next: Next) => {
      const plainSocket = req.connection as unknown as Socket;
      if (plainSocket instanceof TLSSocket) return next(new ldap.OperationsError("TLS is already active"));
      res.end();
      plainSocket.removeAllListeners("data");
      const secure = new TLSSocket(plainSocket, {
        isServer: true,
        secureContext: startTls.current(),
        SNICallback: startTls.SNICallback,
      });
      if (!secure.remoteAddress)
        Object.defineProperty(secure, "remoteAddress", { value: plainSocket.remoteAddress });
      secure.on("error", (err) => o.log.info("StartTLS handshake failed", { error: err.message }));
      (server as unknown as { newConnection(socket: Socket): void }).newConnection(secure);
      guard(secure, o.log);
      return next();
    });
  }

  const refuse = (_req: unknown, _res: unknown, next: Next) =>
    next(new ldap.UnwillingToPerformError("Gatehouse's LDAP is read-only"));
  server.add("", refuse);
  server.modify("", refuse);
  server.del("", refuse);
  server.modifyDN("", refuse);

  const sockets = new Set<Socket>();
  const raw = (server as unknown as { server: import("node:net").Server }).server;
  raw.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    guard(socket, o.log);
  });
  raw.on("secureConnection", (socket: Socket) => guard(socket, o.log));

  // A port already taken fails the start instead of leaving it waiting.
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  // From here ldapjs reports a client's undecodable message (after closing that connection) as a
  // server error; without a listener that would end the process.
  server.on("error", (err: Error) =>
    o.log.info("ldap client sent a malformed message", { error: err.message }),
  );
  server.on("clientError", (err: Error) => o.log.debug("ldap connection error", { error: err.message }));
  const bound = (server as unknown as { address(): { port: number } }).address();
  return {
    port: bound.port,
    raw,
    // Closing the listener waits for every connection to end, and clients may keep theirs open (or
    // half-closed) forever: end them.
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        // Sockets the listener never reported (TLS ones, on some runtimes) must not hold a shutdown.
        setTimeout(resolve, 2000).unref();
      }),
  };
}
