/**
 * The PROXY protocol (HAProxy's, versions 1 and 2): a load balancer that passes TCP through (HAProxy,
 * nginx `stream`, AWS NLB, Traefik TCP routers) tells the server behind it who the client is in a short
 * header before the connection's own bytes. authentik's outposts accept it from the addresses in
 * `listen.trusted_proxy_cidrs`, and take it as optional there; from any other address it is not read
 * (a client could otherwise claim any address). Gatehouse does the same.
 *
 * https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 */

const V1_PREFIX = Buffer.from("PROXY ", "latin1");
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** A v1 header is at most 107 bytes with its CRLF. */
const V1_MAX = 107;
/** A v2 header's fixed part: signature, version and command, family, length. */
const V2_FIXED = 16;
/**
 * The most a v2 header may carry after its fixed part here: the addresses (216 bytes for UNIX) and
 * TLVs. The format allows 64 KiB; no load balancer sends near that, and a connection is not kept
 * waiting for it.
 */
const V2_MAX_REST = 4096;

export type ProxyHeader =
  /** Not a PROXY header: the bytes are the connection's own. */
  | { kind: "none" }
  /** The start of one: wait for more bytes. */
  | { kind: "incomplete" }
  /**
   * A header of `length` bytes, to be dropped. `source` is the client's address; undefined when the
   * header names none (v1 UNKNOWN, v2 LOCAL such as a health check, or a family without one):
   * the connection's own address stands.
   */
  | { kind: "header"; length: number; source: string | undefined }
  /** Malformed: the connection is closed. */
  | { kind: "invalid"; reason: string };

/** Reads a PROXY header at the start of `data` (the first bytes of a connection). */
export function readProxyHeader(data: Uint8Array): ProxyHeader {
  if (startsWith(data, V2_SIGNATURE)) return data.length < V2_FIXED ? { kind: "incomplete" } : readV2(data);
  if (startsWith(data, V1_PREFIX)) return readV1(data);
  return { kind: "none" };
}

/** Whether `data` begins with `prefix`, or is a beginning of it (more bytes may make it so). */
function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  const n = Math.min(data.length, prefix.length);
  for (let i = 0; i < n; i++) if (data[i] !== prefix[i]) return false;
  return true;
}

const V1_LINE =
  /^PROXY (?:UNKNOWN(?: [^\r\n]*)?|(TCP4) (\d{1,3}(?:\.\d{1,3}){3}) (\d{1,3}(?:\.\d{1,3}){3}) (\d{1,5}) (\d{1,5})|(TCP6) ([0-9A-Fa-f:.]+) ([0-9A-Fa-f:.]+) (\d{1,5}) (\d{1,5}))$/;

function readV1(data: Uint8Array): ProxyHeader {
  if (data.length < V1_PREFIX.length) return { kind: "incomplete" };
  const end = Buffer.from(data.buffer, data.byteOffset, Math.min(data.length, V1_MAX)).indexOf("\r\n");
  if (end < 0)
    return data.length >= V1_MAX ? invalid("a v1 header longer than 107 bytes") : { kind: "incomplete" };
  const line = Buffer.from(data.buffer, data.byteOffset, end).toString("latin1");
  const m = V1_LINE.exec(line);
  if (!m) return invalid(`a malformed v1 header: ${JSON.stringify(line.slice(0, 60))}`);
  const length = end + 2;
  if (!m[1] && !m[6]) return { kind: "header", length, source: undefined };
  const [source, ports] = m[1] ? [m[2], [m[4], m[5]]] : [m[7], [m[9], m[10]]];
  if (ports.some((p) => Number(p) > 65535)) return invalid("a v1 header with a port over 65535");
  const v6 = m[6] !== undefined;
  const address = v6 ? ipv6(source as string) : ipv4(source as string);
  const other = v6 ? ipv6(m[8] as string) : ipv4(m[3] as string);
  if (address === undefined || other === undefined) return invalid("a v1 header with a malformed address");
  return { kind: "header", length, source: address };
}

function readV2(data: Uint8Array): ProxyHeader {
  const versionCommand = data[12] as number;
  if (versionCommand >> 4 !== 2) return invalid(`a v2 header of version ${versionCommand >> 4}`);
  const command = versionCommand & 0x0f;
  if (command > 1) return invalid(`a v2 header with command ${command}`);
  const rest = ((data[14] as number) << 8) | (data[15] as number);
  if (rest > V2_MAX_REST) return invalid(`a v2 header of ${rest} bytes`);
  const length = V2_FIXED + rest;
  if (data.length < length) return { kind: "incomplete" };
  // LOCAL: the balancer's own connection (a health check); the address is the socket's.
  if (command === 0) return { kind: "header", length, source: undefined };
  const family = (data[13] as number) >> 4;
  const at = V2_FIXED;
  if (family === 1) {
    if (rest < 12) return invalid("a v2 IPv4 header too short for its addresses");
    return { kind: "header", length, source: Array.from(data.subarray(at, at + 4)).join(".") };
  }
  if (family === 2) {
    if (rest < 36) return invalid("a v2 IPv6 header too short for its addresses");
    return { kind: "header", length, source: formatIpv6(data.subarray(at, at + 16)) };
  }
  // UNSPEC or UNIX: no client address to give.
  if (family === 0 || family === 3) return { kind: "header", length, source: undefined };
  return invalid(`a v2 header with address family ${family}`);
}

const invalid = (reason: string): ProxyHeader => ({ kind: "invalid", reason });

function ipv4(text: string): string | undefined {
  const parts = text.split(".").map(Number);
  return parts.every((p) => p <= 255) ? parts.join(".") : undefined;
}

/** A v1 IPv6 address in its canonical form, or undefined when it is not one. */
function ipv6(text: string): string | undefined {
  // URL parses and canonicalises IPv6 literals (RFC 5952 form), IPv4-mapped ones included.
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || !text.includes(":")) return undefined;
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/** Sixteen bytes as an IPv6 address in its canonical text form. */
function formatIpv6(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
  return ipv6(groups.join(":")) as string;
}
