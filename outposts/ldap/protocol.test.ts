import { describe, expect, test } from "bun:test";
import ldap from "ldapjs";
import { decodeMessage, type Filter, matches, messageLength, ProtocolError } from "./protocol.ts";

/** Requests as a real client (ldapjs's) encodes them. */
const { SearchRequest, BindRequest, CompareRequest, ExtendedRequest, DeleteRequest, parseFilter } =
  ldap as unknown as Record<
    string,
    // biome-ignore lint/suspicious/noExplicitAny: ldapjs's published types lag v3
    any
  >;
const ber = (message: { toBer(): { buffer: Buffer } }) => Buffer.from(message.toBer().buffer);

describe("LDAP protocol", () => {
  test("a simple bind, a search with its filter, a compare, an extended op and a write decode", () => {
    const bind = decodeMessage(
      ber(new BindRequest({ messageId: 1, name: "cn=a,dc=x", credentials: "secret" })),
    );
    expect(bind).toMatchObject({
      id: 1,
      request: { op: "bind", version: 3, name: "cn=a,dc=x", password: "secret" },
    });

    const search = decodeMessage(
      ber(
        new SearchRequest({
          messageId: 70_000,
          baseObject: "dc=x",
          scope: "sub",
          sizeLimit: 5,
          filter: parseFilter("(&(objectClass=user)(|(cn=a*b*c)(uidNumber>=2000))(!(mail=*)))"),
          attributes: ["cn", "memberOf"],
        }),
      ),
    );
    expect(search.id).toBe(70_000);
    expect(search.request).toMatchObject({
      op: "search",
      base: "dc=x",
      scope: "sub",
      sizeLimit: 5,
      attributes: ["cn", "memberOf"],
    });
    const filter = (search.request as { filter: Filter }).filter;
    expect(filter).toEqual({
      type: "and",
      filters: [
        { type: "equality", attribute: "objectClass", value: "user" },
        {
          type: "or",
          filters: [
            { type: "substrings", attribute: "cn", initial: "a", any: ["b"], final: "c" },
            { type: "ge", attribute: "uidNumber", value: "2000" },
          ],
        },
        { type: "not", filter: { type: "present", attribute: "mail" } },
      ],
    });

    const compare = decodeMessage(
      ber(new CompareRequest({ messageId: 3, entry: "cn=a,dc=x", attribute: "mail", value: "a@x" })),
    );
    expect(compare.request).toEqual({ op: "compare", entry: "cn=a,dc=x", attribute: "mail", value: "a@x" });
    const whoami = decodeMessage(
      ber(new ExtendedRequest({ messageId: 4, requestName: "1.3.6.1.4.1.4203.1.11.3" })),
    );
    expect(whoami.request).toMatchObject({ op: "extended", name: "1.3.6.1.4.1.4203.1.11.3" });
    const del = decodeMessage(ber(new DeleteRequest({ messageId: 5, entry: "cn=a,dc=x" })));
    expect(del.request).toEqual({ op: "write", response: 0x6b });
  });

  test("filters match case-insensitively, with substrings, ordering, presence and negation", () => {
    const entry = { cn: ["Alice Bobcat"], uidnumber: ["2001"], mail: ["A@X.test"] };
    const yes: Filter[] = [
      { type: "equality", attribute: "CN", value: "alice bobcat" },
      { type: "approx", attribute: "mail", value: "a@x.TEST" },
      { type: "substrings", attribute: "cn", initial: "ali", any: ["e b"], final: "CAT" },
      { type: "ge", attribute: "uidNumber", value: "2000" },
      { type: "le", attribute: "uidNumber", value: "10000" }, // numbers compare as numbers
      { type: "present", attribute: "Mail" },
      { type: "not", filter: { type: "present", attribute: "sn" } },
    ];
    for (const f of yes) expect(matches(f, entry)).toBe(true);
    const no: Filter[] = [
      { type: "substrings", attribute: "cn", initial: "bob", any: [] },
      { type: "substrings", attribute: "cn", initial: "alice bob", any: [], final: "bobcat" }, // overlapping
      { type: "ge", attribute: "uidNumber", value: "3000" },
      { type: "extensible" },
      { type: "or", filters: [] },
    ];
    for (const f of no) expect(matches(f, entry)).toBe(false);
  });

  test("framing: a message is complete, incomplete, oversized or not LDAP at all", () => {
    const message = ber(new BindRequest({ messageId: 1, name: "cn=a", credentials: "x" }));
    expect(messageLength(message, 1024)).toBe(message.length);
    expect(messageLength(message.subarray(0, message.length - 1), 1024)).toBe(0);
    expect(messageLength(Buffer.concat([message, message]), 1024)).toBe(message.length);
    expect(() => messageLength(Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]), 1024)).toThrow(
      ProtocolError,
    );
    expect(() => messageLength(Buffer.from("GET / HTTP/1.1\r\n"), 1024)).toThrow(ProtocolError);
    // Complete framing, nonsense inside: a clear error, not a crash.
    expect(() => decodeMessage(Buffer.from([0x30, 0x05, 0x02, 0x01, 0x01, 0x77, 0x00]))).toThrow(
      ProtocolError,
    );
    expect(() => decodeMessage(Buffer.from([0x30, 0x03, 0x02, 0x05, 0x01]))).toThrow(ProtocolError);
  });
});
