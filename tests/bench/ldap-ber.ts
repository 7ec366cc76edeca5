/**
 * Just enough BER for the LDAP load driver (RFC 4511): simple BindRequests and SearchRequests built
 * once as byte templates, and a reader that splits a byte stream into LDAPMessages and tells a search
 * entry from a final result. Hand-rolled so that the client costs far less per operation than the
 * servers it loads (a full LDAP client library would be the bottleneck against slapd).
 */

function length(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

function tlv(tag: number, content: Uint8Array | number[]): Buffer {
  const body = Buffer.from(content);
  return Buffer.concat([Buffer.from([tag, ...length(body.length)]), body]);
}

/** A small non-negative INTEGER (or ENUMERATED with tag 0x0a). */
function integer(n: number, tag = 0x02): Buffer {
  const bytes: number[] = [];
  let v = n;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  if ((bytes[0] ?? 0) & 0x80) bytes.unshift(0);
  return tlv(tag, bytes);
}

const octets = (s: string, tag = 0x04) => tlv(tag, Buffer.from(s, "utf8"));

export type Filter =
  | { eq: [attribute: string, value: string] }
  | { prefix: [attribute: string, initial: string] }
  | { present: string }
  | { and: Filter[] };

function filter(f: Filter): Buffer {
  if ("eq" in f) return tlv(0xa3, Buffer.concat([octets(f.eq[0]), octets(f.eq[1])]));
  if ("prefix" in f)
    return tlv(0xa4, Buffer.concat([octets(f.prefix[0]), tlv(0x30, octets(f.prefix[1], 0x80))]));
  if ("present" in f) return octets(f.present, 0x87);
  return tlv(0xa0, Buffer.concat(f.and.map(filter)));
}

/** A request with its messageID byte at a known offset, so it can be sent again under another ID (1–127). */
export interface Template {
  bytes: Buffer;
  idOffset: number;
}

function message(op: Buffer): Template {
  const id = integer(1);
  const bytes = tlv(0x30, Buffer.concat([id, op]));
  // 0x30, the length octets, then 0x02 0x01 <id>.
  return { bytes, idOffset: bytes.length - op.length - 1 };
}

export function bindRequest(dn: string, password: string): Template {
  return message(tlv(0x60, Buffer.concat([integer(3), octets(dn), octets(password, 0x80)])));
}

export interface SearchSpec {
  base: string;
  /** 0 base, 1 one level, 2 subtree. */
  scope: 0 | 1 | 2;
  filter: Filter;
  attributes: string[];
}

export function searchRequest(s: SearchSpec): Template {
  return message(
    tlv(
      0x63,
      Buffer.concat([
        octets(s.base),
        integer(s.scope, 0x0a),
        integer(0, 0x0a), // derefAliases: never
        integer(0), // sizeLimit
        integer(0), // timeLimit
        Buffer.from([0x01, 0x01, 0x00]), // typesOnly: false
        filter(s.filter),
        tlv(0x30, Buffer.concat(s.attributes.map((a) => octets(a)))),
      ]),
    ),
  );
}

export const OP_BIND_RESPONSE = 0x61;
export const OP_SEARCH_ENTRY = 0x64;
export const OP_SEARCH_DONE = 0x65;
export const OP_SEARCH_REFERENCE = 0x73;

/**
 * Splits a stream into LDAPMessages: `onMessage(op, resultCode, bytes)` for each complete one, with
 * the resultCode of an LDAPResult (bind response, search done, …) and -1 for a search entry.
 */
export class MessageReader {
  private rest: Buffer | undefined;

  constructor(private readonly onMessage: (op: number, resultCode: number, bytes: number) => void) {}

  push(chunk: Buffer): void {
    const data = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = undefined;
    let off = 0;
    for (;;) {
      const avail = data.length - off;
      if (avail < 2) break;
      const first = data[off + 1] as number;
      let header = 2;
      let len = first;
      if (first & 0x80) {
        const n = first & 0x7f;
        if (avail < 2 + n) break;
        len = 0;
        for (let i = 0; i < n; i++) len = len * 256 + (data[off + 2 + i] as number);
        header = 2 + n;
      }
      const end = off + header + len;
      if (end > data.length) break;
      // messageID: 0x02 <len> <bytes>, then the protocolOp's tag.
      let p = off + header + 2 + (data[off + header + 1] as number);
      const op = data[p] as number;
      let code = -1;
      if (op !== OP_SEARCH_ENTRY && op !== OP_SEARCH_REFERENCE) {
        const l = data[p + 1] as number;
        p += 2 + (l & 0x80 ? l & 0x7f : 0);
        // resultCode: ENUMERATED 0x0a 0x01 <code>
        code = data[p + 2] as number;
      }
      this.onMessage(op, code, end - off);
      off = end;
    }
    // Bun may reuse the chunk's memory after this callback: keep a copy of a partial message.
    if (off < data.length) this.rest = Buffer.from(data.subarray(off));
  }
}
