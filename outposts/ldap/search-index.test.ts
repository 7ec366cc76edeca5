import { describe, expect, test } from "bun:test";
import type { Entry } from "./directory.ts";
import { decodeMessage, type Filter, matches } from "./protocol.ts";
import { encodeEntry, SearchIndex } from "./search-index.ts";

const BASE = "dc=example,dc=test";
const user = (name: string, groups: string[] = []): Entry => ({
  dn: `cn=${name},ou=users,${BASE}`,
  attributes: {
    objectClass: ["top", "user"],
    cn: [name],
    mail: [`${name}@Example.test`],
    memberOf: groups.map((g) => `cn=${g},ou=groups,${BASE}`),
  },
});
const group = (name: string, members: string[]): Entry => ({
  dn: `cn=${name},ou=groups,${BASE}`,
  attributes: {
    objectClass: ["top", "group"],
    cn: [name],
    member: members.map((m) => `cn=${m}, ou=users, ${BASE}`),
  },
});

const entries = [
  ...Array.from({ length: 50 }, (_, i) => user(`user${i}`, i % 2 ? ["odd"] : [])),
  group("odd", ["user1", "user3"]),
];
const index = new SearchIndex(entries);
const names = (found: { entry: Entry }[]) => found.map((e) => e.entry.attributes.cn?.[0]).sort();
const eq = (attribute: string, value: string): Filter => ({ type: "equality", attribute, value });
const and = (...filters: Filter[]): Filter => ({ type: "and", filters });
const or = (...filters: Filter[]): Filter => ({ type: "or", filters });
const found = (filter: Filter) => names(index.candidates(filter).filter((e) => matches(filter, e.lower)));

describe("SearchIndex", () => {
  test("an equality on an indexed attribute looks at its index only, case-insensitively", () => {
    expect(names(index.candidates(eq("cn", "user7")))).toEqual(["user7"]);
    expect(names(index.candidates(eq("MAIL", "USER7@example.TEST")))).toEqual(["user7"]);
    expect(index.candidates(eq("cn", "nobody"))).toHaveLength(0);
  });

  test("AND narrows to its narrowest part; OR unites; anything else is every entry", () => {
    expect(index.candidates(and(eq("objectClass", "user"), eq("cn", "user3")))).toHaveLength(1);
    expect(names(index.candidates(or(eq("cn", "user3"), eq("cn", "user4"))))).toEqual(["user3", "user4"]);
    expect(index.candidates(or(eq("cn", "user3"), eq("sn", "x")))).toHaveLength(entries.length);
    expect(index.candidates({ type: "substrings", attribute: "cn", initial: "user", any: [] })).toHaveLength(
      entries.length,
    );
  });

  test("candidates never lose a match the filter itself would find", () => {
    for (const filter of [
      eq("cn", "user12"),
      and(eq("objectClass", "user"), eq("memberOf", `cn=odd,ou=groups,${BASE}`)),
      or(eq("cn", "user1"), eq("cn", "odd")),
      { type: "not", filter: eq("cn", "user1") } as Filter,
      eq("member", `cn=user3,ou=users,${BASE}`),
    ]) {
      const all = names(index.all.filter((e) => matches(filter, e.lower)));
      expect(found(filter)).toEqual(all);
    }
  });

  test("groups are found by member, whatever the spacing of the DN", () => {
    expect(names(index.groupsWithMember(`cn=user1,ou=users,${BASE}`))).toEqual(["odd"]);
    expect(index.groupsWithMember(`cn=user2,ou=users,${BASE}`)).toHaveLength(0);
  });

  test("an encoded entry is a SearchResultEntry with the request's message id, for small and large ids", () => {
    const [first] = index.candidates(eq("cn", "user5"));
    if (!first) throw new Error("user5 is missing");
    for (const id of [1, 127, 128, 255, 65_536, 2_147_483_647]) {
      const encoded = encodeEntry(first, "", () => first.entry, id);
      // Same framing as a request: SEQUENCE { id, [APPLICATION 4] … }; decodeMessage reads the id.
      expect(encoded[0]).toBe(0x30);
      expect(decodeMessage(encoded).id).toBe(id);
      expect(encoded.includes(Buffer.from(`cn=user5,ou=users,${BASE}`))).toBe(true);
      expect(encoded.includes(Buffer.from("user5@Example.test"))).toBe(true);
    }
    // The op was encoded once and reused.
    expect(first.encoded?.size).toBe(1);
  });
});
