/**
 * Who the client is, behind reverse proxies. The peer's address is the client's unless the peer is a
 * trusted proxy (`listen.trusted_proxy_cidrs`, authentik's setting and default); then X-Forwarded-For
 * names it, else X-Real-IP. authentik (gorilla's ProxyHeaders) takes X-Forwarded-For's first entry,
 * which is whatever the client itself sent when the proxy appends to the header (nginx's
 * `$proxy_add_x_forwarded_for`, Caddy, Traefik): a client could name any address and so escape its
 * reputation. Here the list is read from the right, each trusted proxy's entry skipped, and the first
 * address no trusted proxy owns is the client's.
 */
import { parseAddress, type TrustedProxies } from "../../../shared/networks.ts";

/** An entry as proxies write them: an address, IPv4 with a port, or IPv6 in brackets with or without one. */
function entryAddress(entry: string): string | undefined {
  const text = entry.trim();
  const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?$/.exec(text)?.[1];
  const v4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(text)?.[1];
  const address = bracketed ?? v4WithPort ?? text;
  return parseAddress(address) ? address : undefined;
}

/**
 * The client's address for a request from `peer`. From a trusted proxy: X-Forwarded-For read from the
 * right to the first entry that is not a trusted proxy (all trusted: the leftmost), else X-Real-IP; an
 * entry that is not an address stops the walk at the last good one (the peer's, if none).
 */
export function clientAddress(peer: string | null, headers: Headers, trusted: TrustedProxies): string | null {
  if (peer === null || !trusted.trusts(peer)) return peer;
  const forwarded = headers.get("x-forwarded-for");
  if (forwarded === null) {
    const real = headers.get("x-real-ip");
    return (real !== null && entryAddress(real)) || peer;
  }
  let client = peer;
  const entries = forwarded.split(",");
  for (let i = entries.length - 1; i >= 0; i--) {
    const address = entryAddress(entries[i] as string);
    if (address === undefined) break;
    client = address;
    if (!trusted.trusts(address)) break;
  }
  return client;
}
