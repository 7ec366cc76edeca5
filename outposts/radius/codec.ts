/**
 * RADIUS packets (RFC 2865, RFC 3579 §3.2) as the outpost needs them: an Access-Request's attributes,
 * its User-Password decrypted and its Message-Authenticator checked; replies with their attributes, a
 * Message-Authenticator and the Response Authenticator. Hand-written for speed: decoding and encoding
 * through the `radius` package was most of a cached request's cost (the tests check both against it).
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export class MalformedPacket extends Error {}
export class BadAuthenticator extends Error {}

export const Attr = {
  userName: 1,
  userPassword: 2,
  nasIpAddress: 4,
  replyMessage: 18,
  state: 24,
  nasIdentifier: 32,
  proxyState: 33,
  messageAuthenticator: 80,
} as const;

export const Code = { accessRequest: 1, accessAccept: 2, accessReject: 3, accessChallenge: 11 } as const;

export interface RadiusRequest {
  code: number;
  identifier: number;
  authenticator: Buffer;
  /** Every attribute as it came, in order. */
  attributes: [number, Buffer][];
  userName: string | undefined;
  /** User-Password, decrypted (trailing NULs removed). */
  password: string | undefined;
  state: Buffer | undefined;
  nas: string | undefined;
  hasMessageAuthenticator: boolean;
}

/** Decodes an Access-Request; throws MalformedPacket, or BadAuthenticator when its Message-Authenticator is wrong. */
export function decodeRequest(packet: Buffer, secret: string): RadiusRequest {
  if (packet.length < 20) throw new MalformedPacket("shorter than a header");
  const length = packet.readUInt16BE(2);
  if (length < 20 || length > packet.length) throw new MalformedPacket("bad length");
  const data = packet.subarray(0, length);
  const authenticator = data.subarray(4, 20);
  const attributes: [number, Buffer][] = [];
  let messageAuthenticatorAt = -1;
  for (let at = 20; at < length; ) {
    if (at + 2 > length) throw new MalformedPacket("truncated attribute");
    const type = data[at] as number;
    const size = data[at + 1] as number;
    if (size < 2 || at + size > length) throw new MalformedPacket("bad attribute length");
    if (type === Attr.messageAuthenticator) {
      if (size !== 18) throw new MalformedPacket("bad Message-Authenticator length");
      messageAuthenticatorAt = at + 2;
    }
    attributes.push([type, data.subarray(at + 2, at + size)]);
    at += size;
  }
  if (messageAuthenticatorAt >= 0) {
    const copy = Buffer.from(data);
    copy.fill(0, messageAuthenticatorAt, messageAuthenticatorAt + 16);
    const expected = createHmac("md5", secret).update(copy).digest();
    if (!timingSafeEqual(expected, data.subarray(messageAuthenticatorAt, messageAuthenticatorAt + 16)))
      throw new BadAuthenticator("Message-Authenticator does not match the shared secret");
  }
  const first = (type: number) => attributes.find(([t]) => t === type)?.[1];
  const encrypted = first(Attr.userPassword);
  const nasIp = first(Attr.nasIpAddress);
  const nasId = first(Attr.nasIdentifier);
  return {
    code: data[0] as number,
    identifier: data[1] as number,
    authenticator,
    attributes,
    userName: first(Attr.userName)?.toString("utf8"),
    password: encrypted ? decryptPassword(encrypted, secret, authenticator) : undefined,
    state: first(Attr.state),
    nas: nasIp?.length === 4 ? [...nasIp].join(".") : nasId?.toString("utf8"),
    hasMessageAuthenticator: messageAuthenticatorAt >= 0,
  };
}

/** RFC 2865 §5.2: each 16-byte block XOR MD5(secret + previous ciphertext block), the first with the authenticator. */
function decryptPassword(encrypted: Buffer, secret: string, authenticator: Buffer): string {
  if (encrypted.length === 0 || encrypted.length % 16 !== 0 || encrypted.length > 128)
    throw new MalformedPacket("bad User-Password length");
  const plain = Buffer.alloc(encrypted.length);
  let previous = authenticator;
  for (let at = 0; at < encrypted.length; at += 16) {
    const pad = createHash("md5").update(secret).update(previous).digest();
    for (let i = 0; i < 16; i++) plain[at + i] = (encrypted[at + i] as number) ^ (pad[i] as number);
    previous = encrypted.subarray(at, at + 16);
  }
  let end = plain.length;
  while (end > 0 && plain[end - 1] === 0) end--;
  return plain.subarray(0, end).toString("utf8");
}

/** One attribute, type-length-value. */
export function attribute(type: number, value: Buffer | string): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  if (bytes.length > 253) throw new MalformedPacket(`attribute ${type} is over 253 bytes`);
  return Buffer.concat([Buffer.from([type, bytes.length + 2]), bytes]);
}

/**
 * A reply to `request`: the given attributes (already encoded), then a Message-Authenticator (always:
 * BlastRADIUS), then the Response Authenticator over the whole packet.
 */
export function encodeReply(
  code: number,
  request: RadiusRequest,
  attributes: Buffer[],
  secret: string,
): Buffer {
  const body = Buffer.concat([...attributes, Buffer.from([Attr.messageAuthenticator, 18]), Buffer.alloc(16)]);
  const length = 20 + body.length;
  if (length > 4096) throw new MalformedPacket("reply over 4096 bytes");
  const packet = Buffer.alloc(length);
  packet[0] = code;
  packet[1] = request.identifier;
  packet.writeUInt16BE(length, 2);
  request.authenticator.copy(packet, 4);
  body.copy(packet, 20);
  // RFC 3579 §3.2: the Message-Authenticator of a reply is taken with the request's authenticator in place.
  createHmac("md5", secret)
    .update(packet)
    .digest()
    .copy(packet, length - 16);
  createHash("md5").update(packet).update(secret).digest().copy(packet, 4);
  return packet;
}
