import { describe, expect, test } from "bun:test";
import { Attr, attribute, BadAuthenticator, decodeRequest, encodeReply, MalformedPacket } from "./codec.ts";
import { radiusCodec } from "./dictionary.ts";

/** The `radius` package is the independent reference: it encodes the requests and checks the replies. */
const reference = radiusCodec() as ReturnType<typeof radiusCodec> & {
  verify_response(a: { request: Buffer; response: Buffer; secret: string }): boolean;
};
const SECRET = "s3cr3t-shared";

const accessRequest = (attributes: [string, unknown][], withMa = true, secret = SECRET) =>
  reference.encode({
    code: "Access-Request",
    identifier: 42,
    secret,
    attributes,
    add_message_authenticator: withMa,
  });

describe("RADIUS codec", () => {
  test("decodes a request: user, password of any length, NAS, State, Message-Authenticator", () => {
    for (const password of [
      "x",
      "exactly-16-bytes",
      "a much longer password ✓ that spans several blocks;123456",
    ]) {
      const packet = accessRequest([
        ["User-Name", "ann"],
        ["User-Password", password],
        ["NAS-IP-Address", "192.0.2.7"],
        ["State", Buffer.from("abc")],
      ]);
      const request = decodeRequest(packet, SECRET);
      expect(request).toMatchObject({
        code: 1,
        identifier: 42,
        userName: "ann",
        password,
        nas: "192.0.2.7",
        hasMessageAuthenticator: true,
      });
      expect(request.state?.toString()).toBe("abc");
    }
    const legacy = decodeRequest(
      accessRequest(
        [
          ["User-Name", "b"],
          ["NAS-Identifier", "ap-3"],
        ],
        false,
      ),
      SECRET,
    );
    expect(legacy).toMatchObject({ hasMessageAuthenticator: false, nas: "ap-3", password: undefined });
  });

  test("a wrong secret fails the Message-Authenticator; broken packets are malformed", () => {
    const packet = accessRequest(
      [
        ["User-Name", "ann"],
        ["User-Password", "pw"],
      ],
      true,
      "another-secret",
    );
    expect(() => decodeRequest(packet, SECRET)).toThrow(BadAuthenticator);
    const good = accessRequest([["User-Name", "ann"]]);
    const badLength = Buffer.from(good);
    badLength.writeUInt16BE(good.length + 10, 2);
    expect(() => decodeRequest(badLength, SECRET)).toThrow(MalformedPacket);
    const badAttribute = Buffer.from(good);
    badAttribute[21] = 1; // an attribute length under 2
    expect(() => decodeRequest(badAttribute, SECRET)).toThrow(MalformedPacket);
    expect(() => decodeRequest(Buffer.alloc(12), SECRET)).toThrow(MalformedPacket);
  });

  test("replies carry a correct Response Authenticator and Message-Authenticator", () => {
    const packet = accessRequest([
      ["User-Name", "ann"],
      ["User-Password", "pw"],
    ]);
    const request = decodeRequest(packet, SECRET);
    for (const code of [2, 3, 11]) {
      const reply = encodeReply(
        code,
        request,
        [attribute(Attr.replyMessage, "hello"), attribute(27, Buffer.from([0, 0, 14, 16]))],
        SECRET,
      );
      expect(reference.verify_response({ request: packet, response: reply, secret: SECRET })).toBe(true);
      const decoded = reference.decode({ packet: reply, secret: SECRET });
      expect(decoded.identifier).toBe(42);
      expect(decoded.attributes["Reply-Message"]).toBe("hello");
      expect(decoded.attributes["Session-Timeout"]).toBe(3600);
      expect(decoded.attributes["Message-Authenticator"]).toBeDefined();
    }
    expect(() => attribute(18, "x".repeat(254))).toThrow(MalformedPacket);
  });
});
