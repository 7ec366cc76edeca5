import { expect, test } from "bun:test";
import { parseNetworks } from "../../shared/networks.ts";
import { encodeAttributes } from "../../shared/radius/attributes.ts";
import { radiusCodec } from "./dictionary.ts";
import { type AuthRequest, RadiusHandler, type RadiusProvider } from "./handler.ts";

const provider: RadiusProvider = {
  pk: 1,
  name: "p",
  shared_secret: "s3cret",
  mfa_support: true,
  allow_legacy_clients: false,
};

function setup(p = provider) {
  const calls: AuthRequest[] = [];
  const handler = new RadiusHandler({
    networks: () => parseNetworks("10.0.0.0/8", p).networks,
    authenticate: async (r) => {
      calls.push(r);
      return r.password === "right"
        ? {
            kind: "accept",
            attributes: encodeAttributes([["Tunnel-Private-Group-Id", "7"]]).toString("base64"),
            username: r.username,
          }
        : { kind: "reject", reason: "reject_invalid", message: "Invalid credentials" };
    },
  });
  return { handler, calls };
}

const request = (password: string, identifier = 1, withMa = true) =>
  radiusCodec().encode({
    code: "Access-Request",
    identifier,
    secret: provider.shared_secret,
    attributes: [
      ["User-Name", "ann"],
      ["User-Password", password],
    ],
    add_message_authenticator: withMa,
  });

test("accepts with the reply attributes, a correct Response Authenticator and a Message-Authenticator", async () => {
  const { handler } = setup();
  const req = request("right");
  const { reply, outcome } = await handler.handle(req, "10.1.2.3", 5000);
  expect(outcome).toBe("accept");
  const r = reply as Buffer;
  expect(r[0]).toBe(2);
  // radius.verify_response checks both the Response Authenticator and the Message-Authenticator.
  expect(
    (radiusCodec() as unknown as { verify_response(a: unknown): boolean }).verify_response({
      request: req,
      response: r,
      secret: provider.shared_secret,
    }),
  ).toBe(true);
  const decoded = radiusCodec().decode({ packet: r, secret: provider.shared_secret });
  expect(decoded.raw_attributes.find(([t]) => t === 81)?.[1].toString()).toBe("7");
  expect(decoded.attributes["Message-Authenticator"]).toBeDefined();
});

test("a retransmission gets the same reply without a second authentication", async () => {
  const { handler, calls } = setup();
  const req = request("right", 9);
  const first = await handler.handle(req, "10.1.2.3", 5000);
  const again = await handler.handle(req, "10.1.2.3", 5000);
  expect(again.outcome).toBe("duplicate");
  expect(again.reply?.equals(first.reply as Buffer)).toBe(true);
  expect(calls.length).toBe(1);
  // The same identifier from another port is another request.
  expect((await handler.handle(req, "10.1.2.3", 5001)).outcome).toBe("accept");
});

test("unknown clients, bad secrets, and garbage are dropped with a reason", async () => {
  const { handler } = setup();
  expect(await handler.handle(request("right"), "192.0.2.1", 1)).toEqual({ outcome: "drop_unknown_client" });
  const wrongSecret = radiusCodec().encode({
    code: "Access-Request",
    identifier: 3,
    secret: "other",
    attributes: [
      ["User-Name", "ann"],
      ["User-Password", "right"],
    ],
    add_message_authenticator: true,
  });
  expect((await handler.handle(wrongSecret, "10.0.0.1", 1)).outcome).toBe("drop_bad_authenticator");
  expect((await handler.handle(Buffer.alloc(10), "10.0.0.1", 1)).outcome).toBe("drop_malformed");
  const flood = Buffer.concat([request("right").subarray(0, 20), Buffer.alloc(3000, 0)]);
  flood.writeUInt16BE(flood.length, 2);
  expect((await handler.handle(flood, "10.0.0.1", 2)).outcome).toBe("drop_malformed");
});

test("without Message-Authenticator: rejected, unless the provider allows legacy clients", async () => {
  const strict = await setup().handler.handle(request("right", 4, false), "10.0.0.1", 1);
  expect(strict.outcome).toBe("reject_no_message_authenticator");
  expect(strict.reply?.[0]).toBe(3);
  const legacy = await setup({ ...provider, allow_legacy_clients: true }).handler.handle(
    request("right", 4, false),
    "10.0.0.1",
    1,
  );
  expect(legacy.outcome).toBe("accept");
});

test("password;code is split when the provider allows MFA", async () => {
  const { handler, calls } = setup();
  await handler.handle(request("pw;123456"), "10.0.0.1", 1);
  expect(calls[0]).toMatchObject({ password: "pw", code: "123456" });
});

test("a flood from one source is cut at the in-flight limit; other sources are still answered", async () => {
  let release = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const handler = new RadiusHandler({
    networks: () => parseNetworks("10.0.0.0/8", provider).networks,
    maxInFlightPerSource: 2,
    authenticate: async (r) => {
      if (r.remoteIp === "10.0.0.1") await gate;
      return { kind: "accept", attributes: "", username: r.username };
    },
  });
  const pending = [1, 2].map((id) => handler.handle(request("right", id), "10.0.0.1", 1));
  expect((await handler.handle(request("right", 3), "10.0.0.1", 1)).outcome).toBe("drop_flood");
  expect((await handler.handle(request("right", 3), "10.0.0.2", 1)).outcome).toBe("accept");
  release();
  expect((await Promise.all(pending)).map((p) => p.outcome)).toEqual(["accept", "accept"]);
});
