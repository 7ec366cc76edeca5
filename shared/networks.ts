/**
 * Networks as CIDR lists ("10.0.0.0/8, ::1/128"), and which of them holds an address: the RADIUS
 * outpost's client networks (the longest matching prefix across all providers picks the shared secret,
 * authentik's rule) and the proxies trusted to name the client (a PROXY protocol header at an outpost,
 * X-Forwarded-For at the core).
 */

export interface Network<T> {
  bits: bigint;
  prefix: number;
  v6: boolean;
  value: T;
}

function parseV4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = (n << 8n) | BigInt(p);
  }
  return n;
}

function parseV6(text: string): bigint | undefined {
  let s = text.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted?.[1]) {
    const v4 = parseV4(dotted[1]);
    if (v4 === undefined) return undefined;
    s = `${s.slice(0, -dotted[1].length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  let n = 0n;
  for (const g of groups) {
    if (!/^[0-9a-f]{1,4}$/.test(g)) return undefined;
    n = (n << 16n) | BigInt(`0x${g}`);
  }
  return n;
}

/** An address as (bits, v6); IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) count as IPv4. */
export function parseAddress(text: string): { bits: bigint; v6: boolean } | undefined {
  const v4 = parseV4(text);
  if (v4 !== undefined) return { bits: v4, v6: false };
  const v6 = parseV6(text.replace(/%.*$/, ""));
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === 0xffffn) return { bits: v6 & 0xffffffffn, v6: false };
  return { bits: v6, v6: true };
}

/** Parses "10.0.0.0/8, ::/0"; entries that do not parse are returned in `invalid`. */
export function parseNetworks<T>(list: string, value: T): { networks: Network<T>[]; invalid: string[] } {
  const networks: Network<T>[] = [];
  const invalid: string[] = [];
  for (const raw of list.split(",")) {
    const entry = raw.trim();
    if (!entry) continue;
    const [addr = "", len] = entry.split("/");
    const parsed = parseV4(addr) !== undefined ? { bits: parseV4(addr) as bigint, v6: false } : undefined;
    const v6 = parsed ? undefined : parseV6(addr);
    const a = parsed ?? (v6 !== undefined ? { bits: v6, v6: true } : undefined);
    const width = a?.v6 ? 128 : 32;
    const prefix = len === undefined ? width : Number(len);
    if (
      !a ||
      !Number.isInteger(prefix) ||
      prefix < 0 ||
      prefix > width ||
      (len !== undefined && !/^\d+$/.test(len))
    ) {
      invalid.push(entry);
      continue;
    }
    const shift = BigInt(width - prefix);
    networks.push({ bits: (a.bits >> shift) << shift, prefix, v6: a.v6, value });
  }
  return { networks, invalid };
}

/** The most specific network containing the address, or undefined. */
export function mostSpecific<T>(networks: readonly Network<T>[], address: string): Network<T> | undefined {
  const a = parseAddress(address);
  if (!a) return undefined;
  let best: Network<T> | undefined;
  for (const n of networks) {
    if (n.v6 !== a.v6 || (best && best.prefix >= n.prefix)) continue;
    const shift = BigInt((a.v6 ? 128 : 32) - n.prefix);
    if ((a.bits >> shift) << shift === n.bits) best = n;
  }
  return best;
}

/** authentik's default `listen.trusted_proxy_cidrs`: loopback, private and link-local networks. */
export const DEFAULT_TRUSTED_PROXY_CIDRS =
  "127.0.0.0/8, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fe80::/10, ::1/128";

/**
 * `listen.trusted_proxy_cidrs` parsed once: the peers whose word on the client's address is taken (a PROXY
 * protocol header at an outpost, X-Forwarded-For at the core).
 */
export class TrustedProxies {
  private readonly networks: Network<true>[];
  /** Entries that are not networks (reported once at startup). */
  readonly invalid: string[];

  constructor(cidrs: string) {
    const parsed = parseNetworks(cidrs, true as const);
    this.networks = parsed.networks;
    this.invalid = parsed.invalid;
  }

  get none(): boolean {
    return this.networks.length === 0;
  }

  trusts(address: string): boolean {
    return mostSpecific(this.networks, address) !== undefined;
  }
}
