/**
 * The LDAP edge: plain (with StartTLS) and LDAPS listeners speaking LDAPv3 through protocol.ts. Binds
 * and searches are routed to the provider whose base DN fits; per-DN bind flags are kept for this
 * instance; searches are answered from the provider's indexed directory. Writes are refused with
 * unwillingToPerform. Each connection handles its messages in order.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import {
  createSecureContext,
  createServer as createTlsServer,
  type SecureContext,
  TLSSocket,
} from "node:tls";
import type { Logger } from "../../shared/log.ts";
import { VERSION } from "../../shared/version.ts";
import type { Entry } from "./directory.ts";
import type { BindFlags, BindResult, Provider } from "./kind.ts";
import {
  Code,
  type Control,
  control,
  decodeMessage,
  decodePagedResults,
  envelope,
  type Filter,
  type Message,
  matches,
  messageLength,
  Op,
  octets,
  pagedResultsValue,
  type Request,
  result,
  searchEntry,
} from "./protocol.ts";
import { SUBSCHEMA_DN, subschemaEntry } from "./schema.ts";
import { encodeEntry, type IndexedEntry, prepare } from "./search-index.ts";

export interface LdapServerOptions {
  listen: { hostname: string; port: number };
  /** LDAPS: its own listener; the same certificates serve StartTLS on the plain one. */
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

const WHO_AM_I = "1.3.6.1.4.1.4203.1.11.3";
const START_TLS = "1.3.6.1.4.1.1466.20037";
/** RFC 2696 simple paged results. */
const PAGED_RESULTS = "1.2.840.113556.1.4.319";
/** Controls a search may carry that change nothing here, so even a critical one is fine. */
const HARMLESS_CONTROLS = new Set([
  "2.16.840.1.113730.3.4.2", // ManageDsaIT: there are no referrals
  "1.3.6.1.4.1.42.2.27.8.5.1", // password policy request: binds answer plainly
]);
/** Open paged searches a connection may hold before the oldest is dropped. */
const MAX_CURSORS = 8;
/** The largest LDAP message a client may send (binds and searches are a few hundred bytes). */
const MAX_MESSAGE_BYTES = 256 * 1024;
/** Unread replies a connection may pile up before it is dropped (a client that never reads). */
const MAX_UNREAD_BYTES = 16 * 1024 * 1024;
/** Replies gathered before a socket write: a search goes out in as few writes as possible. */
const FLUSH_BYTES = 256 * 1024;

const norm = (dn: string) =>
  dn
    .replace(/\s*,\s*/g, ",")
    .trim()
    .toLowerCase();

/** The provider whose base DN is the longest suffix of `dn` (normalized). */
function providerFor(providers: Provider[], target: string): Provider | undefined {
  let best: Provider | undefined;
  let bestLength = -1;
  for (const p of providers) {
    const base = norm(p.config.base_dn);
    if ((target === base || target.endsWith(`,${base}`)) && base.length > bestLength) {
      best = p;
      bestLength = base.length;
    }
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

/**
 * The attributes a search asked for: all user attributes for none or `*`, none for `1.1`, else the
 * named ones (case-insensitive).
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

/** The lower-cased attributes of a one-off entry, for filter matching. */
const lowerCased = (entry: Entry) =>
  Object.fromEntries(Object.entries(entry.attributes).map(([k, v]) => [k.toLowerCase(), v]));

interface Cursor {
  /** The search this cursor continues: a client must not swap it between pages. */
  key: string;
  entries: IndexedEntry[];
  offset: number;
  /** The size limit cut the result set short: the last page ends with sizeLimitExceeded. */
  truncated: boolean;
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

/** One client connection: its bind, its open paged searches, and its messages in order. */
class Connection {
  /** The bound DN as the client gave it ("" for anonymous), and normalized. */
  bindDn = "";
  bindNorm = "";
  readonly cursors = new Map<string, Cursor>();
  private buffer: Buffer = Buffer.alloc(0);
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    public socket: Socket,
    private readonly server: LdapListener,
    readonly secure: boolean,
  ) {
    this.attach(socket);
  }

  get remoteIp(): string {
    return (this.socket.remoteAddress ?? "").replace(/^::ffff:/, "");
  }

  private attach(socket: Socket): void {
    // Replies go out at once (Node would hold small writes for the delayed ACK; Bun already does this).
    socket.setNoDelay?.(true);
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", (err) => this.server.o.log.debug("ldap connection error", { error: err.message }));
    socket.on("close", () => {
      this.closed = true;
    });
  }

  /** Frames messages out of the byte stream; a malformed or oversized one closes the connection. */
  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      let length: number;
      try {
        length = messageLength(this.buffer, MAX_MESSAGE_BYTES);
      } catch (err) {
        this.server.o.log.info("ldap client sent a malformed message; connection closed", {
          client: this.remoteIp,
          error: (err as Error).message,
        });
        this.buffer = Buffer.alloc(0);
        this.socket.destroy();
        return;
      }
      if (length === 0) return;
      const raw = this.buffer.subarray(0, length);
      this.buffer = this.buffer.subarray(length);
      let message: Message;
      try {
        message = decodeMessage(raw);
      } catch (err) {
        this.server.o.log.info("ldap client sent an undecodable message; connection closed", {
          client: this.remoteIp,
          error: (err as Error).message,
        });
        // RFC 4511 §4.1.1: a Notice of Disconnection with protocolError, then close.
        this.write(
          envelope(
            0,
            result(
              Op.extended,
              Code.protocolError,
              "malformed message",
              "",
              octets("1.3.6.1.4.1.1466.20036", 0x8a),
            ),
          ),
        );
        this.socket.end();
        this.buffer = Buffer.alloc(0);
        return;
      }
      // In order, one at a time: a bind must finish before the search that follows it.
      this.queue = this.queue
        .then(() => this.server.handle(this, message))
        .catch((err) => {
          this.server.o.log.error("ldap request failed", { error: (err as Error).message });
          this.socket.destroy();
        });
    }
  }

  write(data: Buffer): void {
    if (!this.closed) this.socket.write(data);
  }

  /** True (and the connection dropped) when the client has stopped reading what it asked for. */
  stalled(pending: number): boolean {
    if ((this.socket.writableLength ?? 0) + pending <= MAX_UNREAD_BYTES) return false;
    this.socket.destroy();
    return true;
  }

  /** StartTLS: after the success response, the same connection continues over TLS, anonymous again. */
  upgrade(options: CertificateOptions): void {
    const plain = this.socket;
    plain.removeAllListeners("data");
    const secure = new TLSSocket(plain, {
      isServer: true,
      secureContext: options.current(),
      SNICallback: options.SNICallback,
    });
    if (!secure.remoteAddress) Object.defineProperty(secure, "remoteAddress", { value: plain.remoteAddress });
    this.socket = secure;
    this.bindDn = "";
    this.bindNorm = "";
    this.attach(secure);
    secure.on("error", (err) => this.server.o.log.info("StartTLS handshake failed", { error: err.message }));
  }
}

/** A search's replies, gathered and written in as few socket writes as possible. */
class Replies {
  private parts: Buffer[] = [];
  private size = 0;
  private readonly key: string;

  constructor(
    private readonly conn: Connection,
    private readonly id: number,
    private readonly attributes: string[],
  ) {
    this.key = attributes.map((a) => a.toLowerCase()).join("\0");
  }

  /** Queues an entry; false when the client has stopped reading (the connection is then closed). */
  entry(indexed: IndexedEntry): boolean {
    const reply = encodeEntry(indexed, this.key, () => select(indexed.entry, this.attributes), this.id);
    this.parts.push(reply);
    this.size += reply.length;
    if (this.size >= FLUSH_BYTES) {
      if (this.conn.stalled(this.size)) return false;
      this.flush();
    }
    return true;
  }

  raw(entry: Entry): void {
    this.parts.push(envelope(this.id, searchEntry(entry.dn, entry.attributes)));
  }

  /** The queued entries and the SearchResultDone, in one write. */
  done(code: number = Code.success, message = "", controls: Buffer[] = []): void {
    this.parts.push(envelope(this.id, result(Op.searchDone, code, message), controls));
    this.conn.write(this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts));
    this.parts = [];
    this.size = 0;
  }

  private flush(): void {
    this.conn.write(Buffer.concat(this.parts));
    this.parts = [];
    this.size = 0;
  }
}

/** What one listener (plain or LDAPS) does with a connection's messages. */
class LdapListener {
  constructor(
    readonly o: LdapServerOptions,
    private readonly flags: Map<string, BindFlags>,
    private readonly startTls: CertificateOptions | undefined,
  ) {}

  async handle(conn: Connection, message: Message): Promise<void> {
    const { id, request, controls } = message;
    switch (request.op) {
      case "bind":
        return this.bind(conn, id, request);
      case "unbind":
        conn.socket.end();
        return;
      case "search":
        return this.search(conn, id, request, controls);
      case "compare":
        return this.compare(conn, id, request);
      case "extended":
        return this.extended(conn, id, request);
      case "abandon":
        return; // every operation here finishes before the next is read
      case "write":
        conn.write(
          envelope(id, result(request.response, Code.unwillingToPerform, "Gatehouse's LDAP is read-only")),
        );
        return;
      case "unknown":
        conn.write(
          envelope(
            0,
            result(
              Op.extended,
              Code.protocolError,
              "unknown operation",
              "",
              octets("1.3.6.1.4.1.1466.20036", 0x8a),
            ),
          ),
        );
        conn.socket.end();
        return;
    }
  }

  private async bind(conn: Connection, id: number, req: Extract<Request, { op: "bind" }>) {
    const reply = (code: number, message = "") => conn.write(envelope(id, result(Op.bind, code, message)));
    conn.bindDn = "";
    conn.bindNorm = "";
    if (req.version !== 3) return reply(Code.protocolError, "only LDAPv3 is supported");
    if (req.password === undefined)
      return reply(Code.authMethodNotSupported, "only simple binds are supported");
    const dn = req.name.trim();
    if (!dn && !req.password) return reply(Code.success); // anonymous
    const target = norm(dn);
    const provider = providerFor(this.o.providers(), target);
    if (!provider) return reply(Code.insufficientAccessRights, "no provider serves this DN");
    const outcome = await this.o.bind(provider, dn, req.password, conn.remoteIp);
    if (!outcome.ok) {
      this.flags.delete(target);
      const code =
        outcome.code === "invalid"
          ? Code.invalidCredentials
          : outcome.code === "denied"
            ? Code.insufficientAccessRights
            : outcome.code === "unavailable"
              ? Code.unavailable
              : Code.operationsError;
      return reply(code);
    }
    this.flags.set(target, outcome.flags);
    conn.bindDn = dn;
    conn.bindNorm = target;
    reply(Code.success);
  }

  /** The provider and flags of the bound user for a request about `target`, or undefined. */
  private bound(conn: Connection, target: string): { provider: Provider; flags: BindFlags } | undefined {
    if (!conn.bindNorm) return undefined;
    const providers = this.o.providers();
    const provider = providerFor(providers, target) ?? providerFor(providers, conn.bindNorm);
    const flags = this.flags.get(conn.bindNorm);
    if (!provider || !flags || !providerFor([provider], conn.bindNorm)) return undefined;
    return { provider, flags };
  }

  /** A non-searching user sees their own entry and their groups, with `member` trimmed to them. */
  private visible(provider: Provider, flags: BindFlags, conn: Connection, filter?: Filter): IndexedEntry[] {
    if (flags.canSearch) return filter ? provider.index.candidates(filter) : provider.index.all;
    const own = provider.index.byDn.get(conn.bindNorm);
    if (!own) return [];
    const groups = provider.index
      .groupsWithMember(conn.bindNorm)
      .filter((g) => !g.normDn.includes(",ou=virtual-groups,"))
      .map((g) => prepare({ ...g.entry, attributes: { ...g.entry.attributes, member: [own.entry.dn] } }));
    return [own, ...groups];
  }

  private search(conn: Connection, id: number, req: Extract<Request, { op: "search" }>, controls: Control[]) {
    const replies = new Replies(conn, id, req.attributes);
    const base = norm(req.base);
    if (base === "" && req.scope === "base") {
      const dse = rootDse(this.o.providers(), this.startTls !== undefined && !conn.secure);
      if (matches(req.filter, lowerCased(dse))) replies.raw(select(dse, req.attributes));
      return replies.done();
    }
    if (base === SUBSCHEMA_DN) {
      const schema = subschemaEntry();
      if (req.scope === "base" && matches(req.filter, lowerCased(schema)))
        replies.raw(selectSubschema(schema, req.attributes));
      return replies.done();
    }
    const who = this.bound(conn, base);
    if (!who) return replies.done(Code.insufficientAccessRights, conn.bindNorm ? "" : "bind first");
    const unknown = controls.find(
      (c) => c.critical && c.type !== PAGED_RESULTS && !HARMLESS_CONTROLS.has(c.type),
    );
    if (unknown) return replies.done(Code.unavailableCriticalExtension, `control ${unknown.type}`);

    const matching = () => {
      const found: IndexedEntry[] = [];
      for (const indexed of this.visible(who.provider, who.flags, conn, req.filter))
        if (inScope(indexed.normDn, base, req.scope) && matches(req.filter, indexed.lower))
          found.push(indexed);
      return found;
    };

    const paged = controls.find((c) => c.type === PAGED_RESULTS);
    if (paged)
      return this.pagedSearch(
        conn,
        replies,
        req,
        paged,
        `${conn.bindNorm}\0${base}\0${req.scope}\0${req.filterKey}`,
        matching,
      );

    let sent = 0;
    for (const entry of matching()) {
      if (req.sizeLimit > 0 && sent >= req.sizeLimit) return replies.done(Code.sizeLimitExceeded);
      if (!replies.entry(entry)) return;
      sent++;
    }
    replies.done();
  }

  /**
   * One page of a paged search: the first request takes a snapshot of the matching entries (so pages
   * neither repeat nor skip entries while the directory changes), later ones continue it by cookie.
   * A page size of 0 abandons the search. The size limit applies to the whole result set.
   */
  private pagedSearch(
    conn: Connection,
    replies: Replies,
    req: Extract<Request, { op: "search" }>,
    paged: Control,
    key: string,
    matching: () => IndexedEntry[],
  ) {
    let size: number;
    let cookie: Buffer;
    try {
      ({ size, cookie } = decodePagedResults(paged.value));
    } catch (err) {
      return replies.done(Code.protocolError, (err as Error).message);
    }
    const pageControl = (next: string) => [
      control(PAGED_RESULTS, false, pagedResultsValue(0, Buffer.from(next, "latin1"))),
    ];
    const open = conn.cursors;
    const cookieId = cookie.length > 0 ? cookie.toString("latin1") : undefined;
    let cursor: Cursor | undefined;
    if (cookieId !== undefined) {
      cursor = open.get(cookieId);
      open.delete(cookieId);
      if (!cursor || cursor.key !== key)
        return replies.done(Code.unwillingToPerform, "unknown or mismatched paged results cookie");
    }
    if (size === 0) return replies.done(Code.success, "", pageControl(""));
    if (!cursor) {
      const entries = matching();
      const truncated = req.sizeLimit > 0 && entries.length > req.sizeLimit;
      cursor = { key, entries: truncated ? entries.slice(0, req.sizeLimit) : entries, offset: 0, truncated };
    }
    const page = cursor.entries.slice(cursor.offset, cursor.offset + size);
    for (const entry of page) if (!replies.entry(entry)) return;
    cursor.offset += page.length;
    if (cursor.offset < cursor.entries.length) {
      const nextId = randomBytes(12).toString("hex");
      if (open.size >= MAX_CURSORS) open.delete(open.keys().next().value as string);
      open.set(nextId, cursor);
      return replies.done(Code.success, "", pageControl(nextId));
    }
    replies.done(cursor.truncated ? Code.sizeLimitExceeded : Code.success, "", pageControl(""));
  }

  /** Compare (RFC 4511 §4.10), over what the bound user may see, values compared case-insensitively. */
  private compare(conn: Connection, id: number, req: Extract<Request, { op: "compare" }>) {
    const reply = (code: number, message = "") => conn.write(envelope(id, result(Op.compare, code, message)));
    const target = norm(req.entry);
    const who = this.bound(conn, target);
    if (!who) return reply(Code.insufficientAccessRights, conn.bindNorm ? "" : "bind first");
    const entry = this.visible(who.provider, who.flags, conn).find((e) => e.normDn === target);
    if (!entry) return reply(Code.noSuchObject, req.entry);
    const values = entry.lower[req.attribute.toLowerCase()];
    if (!values) return reply(Code.noSuchAttribute, req.attribute);
    const value = req.value.toLowerCase();
    reply(values.some((v) => v.toLowerCase() === value) ? Code.compareTrue : Code.compareFalse);
  }

  private extended(conn: Connection, id: number, req: Extract<Request, { op: "extended" }>) {
    // WhoAmI (RFC 4532): the bound DN, or nothing for an anonymous connection.
    if (req.name === WHO_AM_I) {
      const value = conn.bindDn ? `dn:${conn.bindDn}` : "";
      return conn.write(envelope(id, result(Op.extended, Code.success, "", "", octets(value, 0x8b))));
    }
    // StartTLS (RFC 4511 §4.14): success in clear, then the same connection over TLS.
    if (req.name === START_TLS && this.startTls) {
      if (conn.secure || conn.socket instanceof TLSSocket)
        return conn.write(envelope(id, result(Op.extended, Code.operationsError, "TLS is already active")));
      conn.write(envelope(id, result(Op.extended, Code.success, "", "", octets(START_TLS, 0x8a))));
      return conn.upgrade(this.startTls);
    }
    conn.write(
      envelope(id, result(Op.extended, Code.protocolError, `unsupported extended operation ${req.name}`)),
    );
  }
}

export async function startLdapServer(o: LdapServerOptions): Promise<LdapServer> {
  // Bind flags are per outpost instance, shared by the plain and the TLS listener.
  const flags = new Map<string, BindFlags>();
  const certificates = o.tls && certificateOptions(o.tls);
  const plain = await listen(
    createServer(),
    o.listen,
    new LdapListener(o, flags, certificates),
    false,
    o.log,
  );
  let tls: Awaited<ReturnType<typeof listen>> | undefined;
  if (o.tls && certificates) {
    try {
      const server = createTlsServer({
        ...o.tls.defaultCertificate(),
        SNICallback: certificates.SNICallback,
      });
      tls = await listen(server, o.tls.listen, new LdapListener(o, flags, certificates), true, o.log);
    } catch (err) {
      await plain.close();
      throw err;
    }
  }
  return {
    port: plain.port,
    tlsPort: tls?.port,
    reloadCertificates() {
      if (!o.tls || !certificates) return;
      certificates.reload();
      // The LDAPS listener's own default (used without SNI) is swapped in place.
      (
        tls?.server as { setSecureContext?(options: { cert: string; key: string }): void } | undefined
      )?.setSecureContext?.(o.tls.defaultCertificate());
    },
    close: async () => {
      await plain.close();
      await tls?.close();
    },
  };
}

async function listen(
  server: Server,
  address: { hostname: string; port: number },
  handler: LdapListener,
  secure: boolean,
  log: Logger,
): Promise<{ port: number; server: Server; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  server.on(secure ? "secureConnection" : "connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    new Connection(socket, handler, secure);
  });
  if (secure) {
    server.on("connection", (socket: Socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    server.on("tlsClientError", (err: Error) => log.debug("ldaps handshake failed", { error: err.message }));
  }
  // A port already taken fails the start instead of leaving it waiting.
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err: Error) => log.warn("ldap listener error", { error: err.message }));
  const bound = server.address() as { port: number };
  return {
    port: bound.port,
    server,
    // Closing the listener waits for every connection to end, and clients may keep theirs open (or
    // half-closed) forever: end them.
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        setTimeout(resolve, 2000).unref();
      }),
  };
}
