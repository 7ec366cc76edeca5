/**
 * What makes searches cheap: every entry prepared once per directory build (normalized DN, attribute
 * names lower-cased for ldapjs's filter matching, encoded replies cached per attribute selection), an
 * equality index on the attributes clients look people and groups up by, and who is a member of what.
 * A search then looks at the few candidates an equality filter allows instead of every entry.
 */
import ldap from "ldapjs";
import type { Entry } from "./directory.ts";

export interface IndexedEntry {
  entry: Entry;
  /** Lower-cased DN without spaces around commas. */
  normDn: string;
  /** The attributes with lower-cased names: what ldapjs's filter matching expects. */
  lower: Record<string, string[]>;
  /** Encoded SearchResultEntry bodies (no message envelope) by attribute selection. */
  encoded?: Map<string, Buffer>;
}

/** Attributes with an equality index: the ones clients search by. */
const INDEXED = [
  "cn",
  "uid",
  "mail",
  "samaccountname",
  "objectclass",
  "uidnumber",
  "gidnumber",
  "memberof",
  "member",
];

export const normDn = (dn: string) =>
  dn
    .replace(/\s*,\s*/g, ",")
    .trim()
    .toLowerCase();

/** The parts of ldapjs's parsed filters read here. */
interface FilterNode {
  type: string;
  attribute?: string;
  value?: string | Buffer;
  filters?: FilterNode[];
}

export class SearchIndex {
  readonly all: IndexedEntry[];
  readonly byDn = new Map<string, IndexedEntry>();
  private readonly equality = new Map<string, Map<string, IndexedEntry[]>>();
  /** Normalized member DN → the groups listing it in `member`. */
  private readonly groupsOf = new Map<string, IndexedEntry[]>();

  constructor(entries: Entry[]) {
    for (const name of INDEXED) this.equality.set(name, new Map());
    this.all = entries.map((entry) => {
      const lower: Record<string, string[]> = {};
      for (const [name, values] of Object.entries(entry.attributes)) lower[name.toLowerCase()] = values;
      const indexed: IndexedEntry = { entry, normDn: normDn(entry.dn), lower };
      this.byDn.set(indexed.normDn, indexed);
      for (const name of INDEXED) {
        const index = this.equality.get(name) as Map<string, IndexedEntry[]>;
        for (const value of lower[name] ?? []) {
          const key = name === "member" || name === "memberof" ? normDn(value) : value.toLowerCase();
          const list = index.get(key);
          if (list) list.push(indexed);
          else index.set(key, [indexed]);
        }
      }
      return indexed;
    });
    for (const group of this.all)
      for (const member of group.lower.member ?? []) {
        const key = normDn(member);
        const list = this.groupsOf.get(key);
        if (list) list.push(group);
        else this.groupsOf.set(key, [group]);
      }
  }

  /** The groups that list this DN as a member. */
  groupsWithMember(dn: string): IndexedEntry[] {
    return this.groupsOf.get(normDn(dn)) ?? [];
  }

  /**
   * Entries that may match: a superset of the filter's matches (the filter still decides). An equality
   * on an indexed attribute narrows to its index; AND takes its narrowest such part; OR unites its
   * parts when every one of them narrows. Anything else is every entry.
   */
  candidates(filter: FilterNode): IndexedEntry[] {
    return this.narrow(filter) ?? this.all;
  }

  private narrow(filter: FilterNode): IndexedEntry[] | undefined {
    if (filter.type === "EqualityFilter" && filter.attribute) {
      const name = filter.attribute.toLowerCase();
      const index = this.equality.get(name);
      if (!index) return undefined;
      const raw = Buffer.isBuffer(filter.value) ? filter.value.toString("utf8") : String(filter.value ?? "");
      return index.get(name === "member" || name === "memberof" ? normDn(raw) : raw.toLowerCase()) ?? [];
    }
    if (filter.type === "AndFilter") {
      let best: IndexedEntry[] | undefined;
      for (const part of filter.filters ?? []) {
        const found = this.narrow(part);
        if (found && (!best || found.length < best.length)) best = found;
      }
      return best;
    }
    if (filter.type === "OrFilter") {
      const union = new Set<IndexedEntry>();
      for (const part of filter.filters ?? []) {
        const found = this.narrow(part);
        if (!found) return undefined;
        for (const e of found) union.add(e);
      }
      return [...union];
    }
    return undefined;
  }
}

/** An entry not from the index (a group trimmed to one member), prepared the same way. */
export function prepare(entry: Entry): IndexedEntry {
  const lower: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(entry.attributes)) lower[name.toLowerCase()] = values;
  return { entry, normDn: normDn(entry.dn), lower };
}

const MAX_CACHED_SELECTIONS = 4;

/**
 * The SearchResultEntry for `selected` (the entry with only the requested attributes) under
 * `messageId`: the body is encoded once per entry and selection, then wrapped in a new envelope.
 */
export function encodeEntry(
  indexed: IndexedEntry,
  selectionKey: string,
  selected: () => Entry,
  messageId: number,
): Buffer {
  let body = indexed.encoded?.get(selectionKey);
  if (!body) {
    body = messageBody(encodeWithLdapjs(selected()));
    indexed.encoded ??= new Map();
    if (indexed.encoded.size >= MAX_CACHED_SELECTIONS)
      indexed.encoded.delete(indexed.encoded.keys().next().value as string);
    indexed.encoded.set(selectionKey, body);
  }
  return envelope(messageId, body);
}

function encodeWithLdapjs(entry: Entry): Buffer {
  const { SearchEntry, Attribute, parseDN } = ldap as unknown as {
    SearchEntry: new (o: {
      objectName: unknown;
      messageId: number;
      attributes: unknown;
    }) => { toBer(): { buffer: Buffer } };
    Attribute: { fromObject(o: Record<string, string[]>): unknown };
    parseDN(dn: string): unknown;
  };
  return new SearchEntry({
    objectName: parseDN(entry.dn),
    messageId: 1,
    attributes: Attribute.fromObject(entry.attributes),
  }).toBer().buffer;
}

/** The protocolOp of an encoded LDAPMessage: past the SEQUENCE header and the messageID. */
function messageBody(message: Buffer): Buffer {
  let offset = 1;
  const first = message[offset++] as number;
  if (first & 0x80) offset += first & 0x7f;
  const idLength = message[offset + 1] as number;
  return Buffer.from(message.subarray(offset + 2 + idLength));
}

function envelope(messageId: number, body: Buffer): Buffer {
  const id = berInteger(messageId);
  const length = berLength(id.length + body.length);
  const out = Buffer.allocUnsafe(1 + length.length + id.length + body.length);
  out[0] = 0x30;
  length.copy(out, 1);
  id.copy(out, 1 + length.length);
  body.copy(out, 1 + length.length + id.length);
  return out;
}

function berInteger(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  if ((bytes[0] as number) & 0x80) bytes.unshift(0);
  return Buffer.from([0x02, bytes.length, ...bytes]);
}

function berLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let v = length; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
