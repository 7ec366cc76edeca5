/**
 * RADIUS reply attributes from what a property mapping returns: a map of attribute name → value (or a
 * list of values). The core encodes them (check_access sends them base64, as authentik does) and the
 * outpost copies them into its Access-Accept. Names are the standard ones (RFC 2865/2868/2869), a few
 * well-known vendor attributes, or `Vendor-Specific:<vendor id>:<type>` for any other vendor's. A tag
 * for the RFC 2868 tunnel attributes is written as `Tunnel-Private-Group-Id:1` (default tag 0 for the
 * integer ones, none for the strings).
 */

type Kind = "string" | "integer" | "ipaddr" | "octets";
interface Spec {
  type: number;
  kind: Kind;
  tagged?: boolean;
  values?: Record<string, number>;
  vendor?: number;
}

const TUNNEL_TYPES = { PPTP: 1, L2F: 2, L2TP: 3, ATMP: 4, VTP: 5, AH: 6, "IP-IP": 7, GRE: 10, VLAN: 13 };
const TUNNEL_MEDIUM = { IPv4: 1, IPv6: 2, NSAP: 3, HDLC: 4, BBN: 5, "IEEE-802": 6, E163: 7, E164: 8 };
const SERVICE_TYPES = {
  Login: 1,
  Framed: 2,
  "Callback-Login": 3,
  "Callback-Framed": 4,
  Outbound: 5,
  Administrative: 6,
  "NAS-Prompt": 7,
  "Authenticate-Only": 8,
};

export const ATTRIBUTES: Record<string, Spec> = {
  "Service-Type": { type: 6, kind: "integer", values: SERVICE_TYPES },
  "Framed-Protocol": { type: 7, kind: "integer", values: { PPP: 1, SLIP: 2 } },
  "Framed-IP-Address": { type: 8, kind: "ipaddr" },
  "Framed-IP-Netmask": { type: 9, kind: "ipaddr" },
  "Filter-Id": { type: 11, kind: "string" },
  "Framed-MTU": { type: 12, kind: "integer" },
  "Reply-Message": { type: 18, kind: "string" },
  "Framed-Route": { type: 22, kind: "string" },
  Class: { type: 25, kind: "string" },
  "Session-Timeout": { type: 27, kind: "integer" },
  "Idle-Timeout": { type: 28, kind: "integer" },
  "Termination-Action": { type: 29, kind: "integer", values: { Default: 0, "RADIUS-Request": 1 } },
  "Acct-Interim-Interval": { type: 85, kind: "integer" },
  "Tunnel-Type": { type: 64, kind: "integer", tagged: true, values: TUNNEL_TYPES },
  "Tunnel-Medium-Type": { type: 65, kind: "integer", tagged: true, values: TUNNEL_MEDIUM },
  "Tunnel-Private-Group-Id": { type: 81, kind: "string", tagged: true },
  "Tunnel-Assignment-Id": { type: 82, kind: "string", tagged: true },
  "Framed-Pool": { type: 88, kind: "string" },
  "Egress-VLANID": { type: 56, kind: "integer" },
  "Egress-VLAN-Name": { type: 58, kind: "string" },
  // Vendor-specific attributes many NAS read.
  "Cisco-AVPair": { type: 1, kind: "string", vendor: 9 },
  "Microsoft-Filter-Id": { type: 1, kind: "string", vendor: 311 },
  "Aruba-User-Role": { type: 1, kind: "string", vendor: 14823 },
  "Aruba-User-Vlan": { type: 2, kind: "integer", vendor: 14823 },
  "Mikrotik-Rate-Limit": { type: 8, kind: "string", vendor: 14988 },
  "Mikrotik-Group": { type: 3, kind: "string", vendor: 14988 },
  "Ruckus-User-Groups": { type: 1, kind: "string", vendor: 25053 },
  "Fortinet-Group-Name": { type: 1, kind: "string", vendor: 12356 },
  "PaloAlto-User-Group": { type: 5, kind: "string", vendor: 25461 },
};

/** Attributes a mapping must not set: the outpost owns them. */
const RESERVED = new Set([1, 2, 3, 4, 24, 79, 80]);

export class AttributeError extends Error {}

type Scalar = string | number | bigint | boolean;

function resolve(name: string): { spec: Spec; tag: number | undefined } {
  const vsa = /^Vendor-Specific:(\d{1,10}):(\d{1,3})$/.exec(name);
  if (vsa) {
    const type = Number(vsa[2]);
    if (type < 1 || type > 255) throw new AttributeError(`${name}: vendor type must be 1–255`);
    return { spec: { type, kind: "octets", vendor: Number(vsa[1]) }, tag: undefined };
  }
  const [base = "", tagText] = name.split(":");
  const spec = ATTRIBUTES[base];
  if (!spec) throw new AttributeError(`unknown RADIUS attribute "${name}"`);
  if (tagText === undefined) return { spec, tag: spec.tagged && spec.kind === "integer" ? 0 : undefined };
  const tag = Number(tagText);
  if (!spec.tagged || !/^\d{1,2}$/.test(tagText) || tag > 31)
    throw new AttributeError(`${name}: only the tunnel attributes take a tag (0–31)`);
  return { spec, tag };
}

function valueBytes(name: string, spec: Spec, tag: number | undefined, value: Scalar): Buffer {
  let body: Buffer;
  if (spec.kind === "integer") {
    const n =
      typeof value === "string" && spec.values?.[value] !== undefined ? spec.values[value] : Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
      throw new AttributeError(`${name}: "${String(value)}" is not an integer`);
    body = Buffer.alloc(4);
    body.writeUInt32BE(n);
    if (tag !== undefined) body[0] = tag; // RFC 2868: the tag replaces the top byte
    return body;
  }
  if (spec.kind === "ipaddr") {
    const parts = String(value).split(".").map(Number);
    if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
      throw new AttributeError(`${name}: "${String(value)}" is not an IPv4 address`);
    return Buffer.from(parts);
  }
  if (spec.kind === "octets" && typeof value === "string" && /^0x([0-9a-fA-F]{2})+$/.test(value))
    body = Buffer.from(value.slice(2), "hex");
  else if (spec.kind === "octets" && (typeof value === "number" || typeof value === "bigint")) {
    body = Buffer.alloc(4);
    body.writeUInt32BE(Number(value));
  } else body = Buffer.from(String(value), "utf8");
  if (tag !== undefined) body = Buffer.concat([Buffer.from([tag]), body]);
  return body;
}

function tlv(type: number, value: Buffer, name: string): Buffer {
  if (value.length === 0) throw new AttributeError(`${name}: empty value`);
  if (value.length > 253) throw new AttributeError(`${name}: value longer than 253 bytes`);
  return Buffer.concat([Buffer.from([type, value.length + 2]), value]);
}

/** Encodes a mapping's result as the attributes of a reply (concatenated type-length-value). */
export function encodeAttributes(result: Iterable<[string, unknown]>): Buffer {
  const out: Buffer[] = [];
  for (const [name, raw] of result) {
    const { spec, tag } = resolve(name);
    if (!spec.vendor && RESERVED.has(spec.type)) throw new AttributeError(`${name} cannot be set`);
    const values = (
      raw !== null && typeof raw === "object" && Symbol.iterator in (raw as object)
        ? [...(raw as Iterable<unknown>)]
        : [raw]
    ) as unknown[];
    for (const v of values) {
      if (!["string", "number", "bigint", "boolean"].includes(typeof v))
        throw new AttributeError(`${name}: values must be strings or numbers`);
      const body = valueBytes(name, spec, tag, v as Scalar);
      if (spec.vendor === undefined) out.push(tlv(spec.type, body, name));
      else {
        const vendor = Buffer.alloc(4);
        vendor.writeUInt32BE(spec.vendor);
        out.push(tlv(26, Buffer.concat([vendor, tlv(spec.type, body, name)]), name));
      }
    }
  }
  const all = Buffer.concat(out);
  if (all.length > 3000) throw new AttributeError("the reply attributes are too long for one packet");
  return all;
}

/** Splits encoded attributes back into (type, value) pairs; throws on a malformed buffer. */
export function decodeAttributes(data: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  for (let at = 0; at < data.length; ) {
    const type = data[at] ?? 0;
    const length = data[at + 1] ?? 0;
    if (length < 2 || at + length > data.length) throw new AttributeError("malformed attributes");
    out.push([type, data.subarray(at + 2, at + length)]);
    at += length;
  }
  return out;
}
