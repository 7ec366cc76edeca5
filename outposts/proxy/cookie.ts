/**
 * The session cookie: its name (authentik's Rust outpost: `authentik_proxy_` + the first 8 hex digits of
 * SHA-256(client_id)), its attributes (HttpOnly, SameSite=Lax, Path=/, Secure behind https, Domain for
 * forward_domain) and reading it back. The value is a random 256-bit secret; the core only ever sees its
 * SHA-256.
 */
import { createHash } from "node:crypto";

export function cookieName(clientId: string): string {
  return `authentik_proxy_${createHash("sha256").update(clientId).digest("hex").slice(0, 8)}`;
}

export interface CookieOptions {
  secure: boolean;
  domain?: string;
  /** Seconds; 0 clears the cookie. */
  maxAge: number;
}

/** A Set-Cookie value. */
export function serializeCookie(name: string, value: string, options: CookieOptions): string {
  const parts = [`${name}=${value}`, "Path=/", `Max-Age=${Math.max(0, Math.floor(options.maxAge))}`];
  if (options.maxAge <= 0) parts.push("Expires=Thu, 01 Jan 1970 00:00:00 GMT");
  if (options.domain) parts.push(`Domain=${options.domain}`);
  parts.push("HttpOnly", "SameSite=Lax");
  if (options.secure) parts.push("Secure");
  return parts.join("; ");
}

/** The values a cookie name has in a Cookie header (a browser may send it more than once). */
export function readCookies(header: string | null, name: string): string[] {
  if (!header) return [];
  const out: string[] = [];
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    // Our values are base64url; anything else was not set by us.
    if (/^[A-Za-z0-9_-]{16,128}$/.test(value)) out.push(value);
  }
  return out;
}

/** The Cookie header without our cookie (the upstream has no use for the session secret). */
export function withoutCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  // One pass with indexOf: this runs on every proxied request.
  let kept = "";
  for (let at = 0; at < header.length; ) {
    let end = header.indexOf(";", at);
    if (end < 0) end = header.length;
    const part = header.slice(at, end).trim();
    at = end + 1;
    if (!part) continue;
    const eq = part.indexOf("=");
    if ((eq < 0 ? part : part.slice(0, eq)).trim() === name) continue;
    kept = kept ? `${kept}; ${part}` : part;
  }
  return kept || undefined;
}
