/**
 * LDAPv3 on the wire (RFC 4511), the part an outpost serves: BER framing, decoding of every request
 * (so the unsupported ones can be refused properly), search filters and their matching, and encoding
 * of the responses. Pure functions over buffers: no sockets here.
 */

export class ProtocolError extends Error {}

// --- BER reading ---

interface Tlv {
  tag: number;
  /** Offsets of the value within the buffer. */
  start: number;
  end: number;
}

class Reader {
  constructor(
    readonly buf: Buffer,
    public offset = 0,
    readonly limit = buf.length,
  ) {}

  get more(): boolean {
    return this.offset < this.limit;
  }

  peek(): number {
    if (this.offset >= this.limit) throw new ProtocolError("truncated message");
    return this.buf[this.offset] as number;
  }

  tlv(expected?: number): Tlv {
    const tag = this.peek();
    if (expected !== undefined && tag !== expected)
      throw new ProtocolError(`expected tag 0x${expected.toString(16)}, got 0x${tag.toString(16)}`);
    if ((tag & 0x1f) === 0x1f) throw new ProtocolError("multi-byte tags are not LDAP");
    let offset = this.offset + 1;
    const first = this.buf[offset++];
    if (first === undefined) throw new ProtocolError("truncated length");
    let length = first;
    if (first & 0x80) {
      const bytes = first & 0x7f;
      if (bytes === 0 || bytes > 4) throw new ProtocolError("unsupported length encoding");
      length = 0;
      for (let i = 0; i < bytes; i++) {
        const b = this.buf[offset++];
        if (b === undefined) throw new ProtocolError("truncated length");
        length = length * 256 + b;
      }
    }
    const end = offset + length;
    if (end > this.limit) throw new ProtocolError("element longer than its container");
    this.offset = end;
    return { tag, start: offset, end };
  }

  /** The contents of a constructed element, to read inside. */
  inside(expected?: number): Reader {
    const t = this.tlv(expected);
    return new Reader(this.buf, t.start, t.end);
  }

  integer(expected = 0x02): number {
    const t = this.tlv(expected);
    const length = t.end - t.start;
    if (length === 0 || length > 6) throw new ProtocolError("bad integer");
    let value = 0;
    for (let i = t.start; i < t.end; i++) value = value * 256 + (this.buf[i] as number);
    // Two's complement: a set top bit makes it negative.
    if ((this.buf[t.start] as number) & 0x80) value -= 256 ** length;
    return value;
  }

  bytes(expected = 0x04): Buffer {
    const t = this.tlv(expected);
    return this.buf.subarray(t.start, t.end);
  }

  string(expected = 0x04): string {
    return this.bytes(expected).toString("utf8");
  }

  boolean(): boolean {
    const t = this.tlv(0x01);
    if (t.end - t.start !== 1) throw new ProtocolError("bad boolean");
    return this.buf[t.start] !== 0;
  }

  /** The raw bytes of the next element (tag and length included). */
  raw(): Buffer {
    const from = this.offset;
    this.tlv();
    return this.buf.subarray(from, this.offset);
  }
}

/**
 * The length of the first complete message in `buf`, 0 when more bytes are needed. Throws on what
 * cannot start an LDAP message, and when the message would be longer than `max`.
 */
export function messageLength(buf: Buffer, max: number): number {
  if (buf.length < 2) return 0;
  if (buf[0] !== 0x30) throw new ProtocolError("not an LDAP message");
  const first = buf[1] as number;
  let header = 2;
  let length = first;
  if (first & 0x80) {
    const bytes = first & 0x7f;
    if (bytes === 0 || bytes > 4) throw new ProtocolError("unsupported length encoding");
    if (buf.length < 2 + bytes) return 0;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + (buf[2 + i] as number);
    header += bytes;
  }
  if (header + length > max) throw new ProtocolError(`message of ${header + length} bytes is over ${max}`);
  return buf.length >= header + length ? header + length : 0;
}

// --- Requests ---

export interface Control {
  type: string;
  critical: boolean;
  value: Buffer | undefined;
}

export type Filter =
  | { type: "and" | "or"; filters: Filter[] }
  | { type: "not"; filter: Filter }
  | { type: "equality" | "ge" | "le" | "approx"; attribute: string; value: string }
  | { type: "substrings"; attribute: string; initial?: string; any: string[]; final?: string }
  | { type: "present"; attribute: string }
  | { type: "extensible" };

export type Request =
  | { op: "bind"; version: number; name: string; password: string | undefined }
  | { op: "unbind" }
  | {
      op: "search";
      base: string;
      scope: "base" | "one" | "sub";
      sizeLimit: number;
      typesOnly: boolean;
      filter: Filter;
      /** The filter's own bytes: equal filters, equal bytes (a paged search's identity). */
      filterKey: string;
      attributes: string[];
    }
  | { op: "compare"; entry: string; attribute: string; value: string }
  | { op: "extended"; name: string; value: Buffer | undefined }
  | { op: "abandon" }
  | { op: "write"; response: number }
  | { op: "unknown" };

export interface Message {
  id: number;
  request: Request;
  controls: Control[];
}

/** The response tag for each write request (add, modify, delete, modify DN), which are all refused. */
const WRITE_RESPONSES: Record<number, number> = { 102: 0x67, 104: 0x69, 74: 0x6b, 108: 0x6d };

export function decodeMessage(buf: Buffer): Message {
  const outer = new Reader(buf).inside(0x30);
  const id = outer.integer();
  if (id < 0) throw new ProtocolError("negative message id");
  const tag = outer.peek();
  let request: Request;
  if (tag === 0x60) {
    const r = outer.inside(0x60);
    const version = r.integer();
    const name = r.string();
    const auth = r.peek();
    request = { op: "bind", version, name, password: auth === 0x80 ? r.string(0x80) : undefined };
    if (auth !== 0x80) r.tlv(); // SASL: read past it; refused by the handler
  } else if (tag === 0x42) {
    outer.tlv(0x42);
    request = { op: "unbind" };
  } else if (tag === 0x63) {
    const r = outer.inside(0x63);
    const base = r.string();
    const scope = r.integer(0x0a);
    r.integer(0x0a); // derefAliases: there are no aliases
    const sizeLimit = r.integer();
    r.integer(); // timeLimit: searches are answered from memory
    const typesOnly = r.boolean();
    const filterBytes = r.raw();
    const filter = decodeFilter(new Reader(filterBytes));
    const attributes: string[] = [];
    const list = r.inside(0x30);
    while (list.more) attributes.push(list.string());
    if (scope < 0 || scope > 2) throw new ProtocolError("bad scope");
    request = {
      op: "search",
      base,
      scope: (["base", "one", "sub"] as const)[scope] as "base" | "one" | "sub",
      sizeLimit: Math.max(0, sizeLimit),
      typesOnly,
      filter,
      filterKey: filterBytes.toString("base64"),
      attributes,
    };
  } else if (tag === 0x6e) {
    const r = outer.inside(0x6e);
    const entry = r.string();
    const ava = r.inside(0x30);
    request = { op: "compare", entry, attribute: ava.string(), value: ava.string() };
  } else if (tag === 0x77) {
    const r = outer.inside(0x77);
    const name = r.string(0x80);
    request = { op: "extended", name, value: r.more ? r.bytes(0x81) : undefined };
  } else if (tag === 0x50) {
    outer.tlv(0x50);
    request = { op: "abandon" };
  } else if (WRITE_RESPONSES[tag] !== undefined) {
    outer.tlv();
    request = { op: "write", response: WRITE_RESPONSES[tag] as number };
  } else {
    outer.tlv();
    request = { op: "unknown" };
  }
  const controls: Control[] = [];
  if (outer.more && outer.peek() === 0xa0) {
    const list = outer.inside(0xa0);
    while (list.more) {
      const c = list.inside(0x30);
      const type = c.string();
      const critical = c.more && c.peek() === 0x01 ? c.boolean() : false;
      controls.push({ type, critical, value: c.more ? c.bytes() : undefined });
    }
  }
  return { id, request, controls };
}

function decodeFilter(r: Reader): Filter {
  const tag = r.peek();
  switch (tag) {
    case 0xa0:
    case 0xa1: {
      const set = r.inside(tag);
      const filters: Filter[] = [];
      while (set.more) filters.push(decodeFilter(set));
      return { type: tag === 0xa0 ? "and" : "or", filters };
    }
    case 0xa2:
      return { type: "not", filter: decodeFilter(r.inside(0xa2)) };
    case 0xa3:
    case 0xa5:
    case 0xa6:
    case 0xa8: {
      const ava = r.inside(tag);
      const type = ({ 163: "equality", 165: "ge", 166: "le", 168: "approx" } as const)[tag];
      return { type, attribute: ava.string(), value: ava.string() };
    }
    case 0xa4: {
      const s = r.inside(0xa4);
      const attribute = s.string();
      const parts = s.inside(0x30);
      const filter: Filter = { type: "substrings", attribute, any: [] };
      while (parts.more) {
        const kind = parts.peek();
        const value = parts.string(kind);
        if (kind === 0x80) filter.initial = value;
        else if (kind === 0x81) filter.any.push(value);
        else if (kind === 0x82) filter.final = value;
        else throw new ProtocolError("bad substring");
      }
      return filter;
    }
    case 0x87:
      return { type: "present", attribute: r.string(0x87) };
    case 0xa9:
      r.tlv(0xa9);
      return { type: "extensible" };
    default:
      throw new ProtocolError(`unknown filter 0x${tag.toString(16)}`);
  }
}

/** The paged-results control's value: the page size asked for and the cookie (empty to start). */
export function decodePagedResults(value: Buffer | undefined): { size: number; cookie: Buffer } {
  if (!value) throw new ProtocolError("paged results control without a value");
  const r = new Reader(value).inside(0x30);
  return { size: r.integer(), cookie: r.bytes() };
}

// --- Filter matching ---

/** Attributes compared as numbers for ≥ and ≤ when both sides are numbers. */
const isNumber = (v: string) => /^-?\d+$/.test(v);

/**
 * Whether an entry (attribute names lower-cased) matches. Values compare case-insensitively, as the
 * directory's attributes (directory strings, IA5 strings) do in OpenLDAP; approx is equality.
 * Extensible matches match nothing.
 */
export function matches(filter: Filter, entry: Record<string, string[]>): boolean {
  switch (filter.type) {
    case "and":
      return filter.filters.every((f) => matches(f, entry));
    case "or":
      return filter.filters.some((f) => matches(f, entry));
    case "not":
      return !matches(filter.filter, entry);
    case "present":
      return (
        filter.attribute.toLowerCase() === "objectclass" ||
        entry[filter.attribute.toLowerCase()] !== undefined
      );
    case "equality":
    case "approx": {
      const want = filter.value.toLowerCase();
      return (entry[filter.attribute.toLowerCase()] ?? []).some((v) => v.toLowerCase() === want);
    }
    case "ge":
    case "le": {
      const sign = filter.type === "ge" ? 1 : -1;
      return (entry[filter.attribute.toLowerCase()] ?? []).some((v) => {
        const c =
          isNumber(v) && isNumber(filter.value)
            ? Number(v) - Number(filter.value)
            : v.toLowerCase().localeCompare(filter.value.toLowerCase());
        return sign * c >= 0;
      });
    }
    case "substrings":
      return (entry[filter.attribute.toLowerCase()] ?? []).some((raw) =>
        substringMatch(raw.toLowerCase(), filter),
      );
    case "extensible":
      return false;
  }
}

function substringMatch(value: string, f: { initial?: string; any: string[]; final?: string }): boolean {
  let at = 0;
  if (f.initial !== undefined) {
    const initial = f.initial.toLowerCase();
    if (!value.startsWith(initial)) return false;
    at = initial.length;
  }
  for (const part of f.any) {
    const found = value.indexOf(part.toLowerCase(), at);
    if (found < 0) return false;
    at = found + part.length;
  }
  if (f.final !== undefined) {
    const final = f.final.toLowerCase();
    return value.length - final.length >= at && value.endsWith(final);
  }
  return true;
}

// --- Encoding ---

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), lengthBytes(body.length), body]);
}

export function octets(value: string | Buffer, tag = 0x04): Buffer {
  return tlv(tag, typeof value === "string" ? Buffer.from(value, "utf8") : value);
}

export function integer(value: number, tag = 0x02): Buffer {
  const bytes: number[] = [];
  let v = value;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  if ((bytes[0] as number) & 0x80) bytes.unshift(0);
  return tlv(tag, Buffer.from(bytes));
}

export const enumerated = (value: number) => integer(value, 0x0a);

/** An LDAPMessage: the id, the protocol op (already encoded) and, when given, response controls. */
export function envelope(id: number, op: Buffer, controls: Buffer[] = []): Buffer {
  return controls.length > 0
    ? tlv(0x30, integer(id), op, tlv(0xa0, ...controls))
    : tlv(0x30, integer(id), op);
}

/** An LDAPResult-shaped response op (bind, search done, compare, writes, extended). */
export function result(tag: number, code: number, message = "", matchedDn = "", ...extra: Buffer[]): Buffer {
  return tlv(tag, enumerated(code), octets(matchedDn), octets(message), ...extra);
}

/** A SearchResultEntry op with the given attributes. */
export function searchEntry(dn: string, attributes: Record<string, string[]>, typesOnly = false): Buffer {
  const list = Object.entries(attributes).map(([name, values]) =>
    tlv(0x30, octets(name), tlv(0x31, ...(typesOnly ? [] : values.map((v) => octets(v))))),
  );
  return tlv(0x64, octets(dn), tlv(0x30, ...list));
}

export function control(type: string, critical: boolean, value?: Buffer): Buffer {
  return tlv(
    0x30,
    octets(type),
    ...(critical ? [Buffer.from([0x01, 0x01, 0xff])] : []),
    ...(value ? [octets(value)] : []),
  );
}

/** The paged-results response control's value. */
export function pagedResultsValue(size: number, cookie: Buffer): Buffer {
  return tlv(0x30, integer(size), octets(cookie));
}

/** Result codes (RFC 4511 §4.1.9) used here. */
export const Code = {
  success: 0,
  operationsError: 1,
  protocolError: 2,
  sizeLimitExceeded: 4,
  compareFalse: 5,
  compareTrue: 6,
  authMethodNotSupported: 7,
  unavailableCriticalExtension: 12,
  noSuchAttribute: 16,
  noSuchObject: 32,
  invalidCredentials: 49,
  insufficientAccessRights: 50,
  unavailable: 52,
  unwillingToPerform: 53,
} as const;

/** Response tags. */
export const Op = {
  bind: 0x61,
  searchEntry: 0x64,
  searchDone: 0x65,
  compare: 0x6f,
  extended: 0x78,
} as const;
