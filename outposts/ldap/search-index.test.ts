import { describe, expect, test } from "bun:test";
import ldap from "ldapjs";
import type { Entry } from "./directory.ts";
import { encodeEntry, SearchIndex } from "./search-index.ts";

/** ldapjs re-exports its filter parser and message decoder; its published types lag v3. */
const { parseFilter, Parser } = ldap as unknown as {
  parseFilter(text: string): { matches(entry: Record<string, string[]>, strict: boolean): boolean };
  Parser: new (o: {
    log: Record<string, () => void>;
  }) => { on(event: "message", fn: (m: unknown) => void): void; write(data: Buffer): void };
};
const quiet = { debug() {}, trace() {}, warn() {}, error() {}, info() {} };
/** Decodes one LDAP message the way ldapjs's server does. */
function decode(buffer: Buffer): unknown {
  const parser = new Parser({ log: quiet });
  let message: unknown;
  parser.on("message", (m) => {
    message = m;
  });
  parser.write(buffer);
  return message;
}
const parseString = parseFilter;

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
const matches = (filter: string) => {
  const parsed = parseString(filter);
  return names(index.candidates(parsed as never).filter((e) => parsed.matches(e.lower, false)));
};

describe("SearchIndex", () => {
  test("an equality on an indexed attribute looks at its index only, case-insensitively", () => {
    expect(names(index.candidates(parseString("(cn=user7)") as never))).toEqual(["user7"]);
    expect(names(index.candidates(parseString("(mail=USER7@example.TEST)") as never))).toEqual(["user7"]);
    expect(index.candidates(parseString("(cn=nobody)") as never)).toHaveLength(0);
  });

  test("AND narrows to its narrowest part; OR unites; anything else is every entry", () => {
    expect(index.candidates(parseString("(&(objectClass=user)(cn=user3))") as never)).toHaveLength(1);
    expect(names(index.candidates(parseString("(|(cn=user3)(cn=user4))") as never))).toEqual([
      "user3",
      "user4",
    ]);
    expect(index.candidates(parseString("(|(cn=user3)(sn=x))") as never)).toHaveLength(entries.length);
    expect(index.candidates(parseString("(cn=user*)") as never)).toHaveLength(entries.length);
  });

  test("candidates never lose a match the filter itself would find", () => {
    for (const filter of [
      "(cn=user12)",
      "(&(objectClass=user)(memberOf=cn=odd,ou=groups,dc=example,dc=test))",
      "(|(cn=user1)(cn=odd))",
      "(!(cn=user1))",
      "(member=cn=user3,ou=users,dc=example,dc=test)",
    ]) {
      const parsed = parseString(filter);
      const all = names(index.all.filter((e) => parsed.matches(e.lower, false)));
      expect(matches(filter)).toEqual(all);
    }
  });

  test("groups are found by member, whatever the spacing of the DN", () => {
    expect(names(index.groupsWithMember(`cn=user1,ou=users,${BASE}`))).toEqual(["odd"]);
    expect(index.groupsWithMember(`cn=user2,ou=users,${BASE}`)).toHaveLength(0);
  });

  test("an encoded entry parses back with the request's message id, for small and large ids", () => {
    const [first] = index.candidates(parseString("(cn=user5)") as never);
    if (!first) throw new Error("user5 is missing");
    for (const id of [1, 127, 128, 255, 65_536, 2_147_483_647]) {
      const encoded = encodeEntry(first, "", () => first.entry, id);
      const message = decode(encoded) as unknown as {
        messageId: number;
        objectName: { toString(): string };
        attributes: { type: string; values: string[] }[];
      };
      expect(message.messageId).toBe(id);
      expect(message.objectName.toString()).toBe(`cn=user5,ou=users,${BASE}`);
      expect(message.attributes.find((a) => a.type === "mail")?.values).toEqual(["user5@Example.test"]);
    }
    // The body was encoded once and reused.
    expect(first.encoded?.size).toBe(1);
  });
});
