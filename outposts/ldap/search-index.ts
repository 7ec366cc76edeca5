/**
 * What makes searches cheap: every entry prepared once per directory build (normalized DN, attribute
 * names lower-cased for ldapjs's filter matching, encoded replies cached per attribute selection), an
 * equality index on the attributes clients look people and groups up by, and who is a member of what.
 * A search then looks at the few candidates an equality filter allows instead of every entry.
 */
import type { Entry } from "./directory.ts";
import { envelope, type Filter, searchEntry } from "./protocol.ts";

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
  candidates(filter: Filter): IndexedEntry[] {
    return this.narrow(filter) ?? this.all;
  }

  private narrow(filter: Filter): IndexedEntry[] | undefined {
    if (filter.type === "equality" || filter.type === "approx") {
      const name = filter.attribute.toLowerCase();
      const index = this.equality.get(name);
      if (!index) return undefined;
      return (
        index.get(
          name === "member" || name === "memberof" ? normDn(filter.value) : filter.value.toLowerCase(),
        ) ?? []
      );
    }
    if (filter.type === "and") {
      let best: IndexedEntry[] | undefined;
      for (const part of filter.filters) {
        const found = this.narrow(part);
        if (found && (!best || found.length < best.length)) best = found;
      }
      return best;
    }
    if (filter.type === "or") {
      const union = new Set<IndexedEntry>();
      for (const part of filter.filters) {
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
 * `messageId`: the op is encoded once per entry and selection, then wrapped in a new envelope.
 */
export function encodeEntry(
  indexed: IndexedEntry,
  selectionKey: string,
  selected: () => Entry,
  messageId: number,
): Buffer {
  let op = indexed.encoded?.get(selectionKey);
  if (!op) {
    const entry = selected();
    op = searchEntry(entry.dn, entry.attributes);
    indexed.encoded ??= new Map();
    if (indexed.encoded.size >= MAX_CACHED_SELECTIONS)
      indexed.encoded.delete(indexed.encoded.keys().next().value as string);
    indexed.encoded.set(selectionKey, op);
  }
  return envelope(messageId, op);
}
