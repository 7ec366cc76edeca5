/**
 * The X-authentik-* headers (authentik's addHeaders): who the user is, for the upstream (proxy mode) or
 * the reverse proxy's auth subrequest (forward modes). What a client sent under those names — in any
 * case, with underscores for dashes, repeated — is removed first, so it cannot be smuggled through. A
 * value with CR, LF or NUL in it (from a user's name or attributes) is left out, never sent. Values go
 * out as UTF-8 bytes, as authentik's Go outpost sends them: a header string holds one byte per
 * character, so a name like "Łukasz" is carried as its UTF-8 bytes rather than refused by `Headers`.
 */
import { VERSION } from "../../shared/version.ts";
import type { Application } from "./application.ts";
import type { Identity } from "./claims.ts";

const PREFIX = "x-authentik-";
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const UNSAFE_VALUE = /[\r\n\0]/;
/** Names an attribute may not set: they frame the request itself. */
const RESERVED = new Set(["host", "content-length", "transfer-encoding", "connection", "upgrade", "cookie"]);

/** Whether a header name is one of ours once underscores are read as dashes (X_authentik_username). */
export function isAuthentikHeader(name: string): boolean {
  return name.toLowerCase().replace(/_/g, "-").startsWith(PREFIX);
}

/** Removes every X-authentik-* header (and underscore variant) the client sent. */
export function stripAuthentikHeaders(headers: Headers): void {
  const names = new Set<string>();
  headers.forEach((_value, name) => {
    if (isAuthentikHeader(name)) names.add(name);
  });
  for (const name of names) headers.delete(name);
}

export interface HeaderMeta {
  outpost: string;
}

/** A header that is safe to send: a token name and a value without line breaks. */
export function safeHeader(name: string, value: string): boolean {
  return TOKEN.test(name) && !UNSAFE_VALUE.test(value);
}

const str = (v: unknown): string | undefined =>
  typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : undefined;

const list = (v: unknown): string =>
  Array.isArray(v)
    ? v
        .map((x) => str(x) ?? "")
        .filter(Boolean)
        .join("|")
    : "";

/** The identity headers for this user of this provider, in order. */
export function identityHeaders(app: Application, identity: Identity, meta: HeaderMeta): [string, string][] {
  const c = identity.claims;
  const attributes = c.ak_proxy?.user_attributes ?? {};
  const out: [string, string][] = [
    ["X-authentik-username", c.preferred_username ?? ""],
    ["X-authentik-groups", list(c.groups)],
    ["X-authentik-entitlements", list(c.entitlements)],
    ["X-authentik-email", c.email ?? ""],
    ["X-authentik-name", c.name ?? ""],
    ["X-authentik-uid", c.sub ?? ""],
    ["X-authentik-jwt", identity.token],
    ["X-authentik-meta-jwks", app.oidc.jwks_uri],
    ["X-authentik-meta-outpost", meta.outpost],
    ["X-authentik-meta-provider", app.config.name],
    ["X-authentik-meta-app", app.config.assigned_application_slug],
    ["X-authentik-meta-version", `goauthentik.io/outpost/${VERSION}`],
  ];
  if (app.config.basic_auth_enabled) {
    const user = str(attributes[app.config.basic_auth_user_attribute]) ?? c.email ?? "";
    const password = str(attributes[app.config.basic_auth_password_attribute]) ?? "";
    out.push(["Authorization", `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`]);
  }
  const additional = attributes.additionalHeaders;
  if (additional && typeof additional === "object" && !Array.isArray(additional)) {
    for (const [name, value] of Object.entries(additional)) {
      const v = str(value);
      if (v !== undefined && !RESERVED.has(name.toLowerCase()) && !isAuthentikHeader(name))
        out.push([name, v]);
    }
  }
  return out
    .filter(([name, value]) => safeHeader(name, value))
    .map(([name, value]) => [name, NON_ASCII.test(value) ? utf8Bytes(value) : value]);
}

const NON_ASCII = /[\u0080-\uffff]/;

/** `value`'s UTF-8 encoding, one character per byte (how header strings are written to the wire). */
export const utf8Bytes = (value: string): string => Buffer.from(value, "utf8").toString("latin1");

/** An identity's headers for one provider, built once: the pairs and their lower-cased names. */
export interface PreparedIdentity {
  pairs: [string, string][];
  /** Lower-cased names the pairs set: a request's own header of such a name is replaced, not kept. */
  names: Set<string>;
  /** The pairs as HTTP/1.1 header lines ("Name: value\r\n" each), for the upstream request's head. */
  lines: { text: string; ascii: boolean };
  /**
   * The pairs as a Headers object, made on first use (forward auth's answer): a Response copies one in
   * a fraction of the time it takes to check the pairs again.
   */
  headers?: Headers;
}

interface Memo extends PreparedIdentity {
  app: Application;
  outpost: string;
}

/**
 * Identities are cached objects (a session's for a few seconds, a header's for a minute): the headers of
 * each are built on its first request and reused while the same provider and outpost name serve it.
 */
const prepared = new WeakMap<Identity, Memo>();

export function prepareIdentity(app: Application, identity: Identity, meta: HeaderMeta): PreparedIdentity {
  const memo = prepared.get(identity);
  if (memo && memo.app === app && memo.outpost === meta.outpost) return memo;
  const pairs = identityHeaders(app, identity, meta);
  const text = pairs.map(([name, value]) => `${name}: ${value}\r\n`).join("");
  const next = {
    app,
    outpost: meta.outpost,
    pairs,
    names: new Set(pairs.map(([n]) => n.toLowerCase())),
    lines: { text, ascii: !NON_ASCII.test(text) },
  };
  prepared.set(identity, next);
  return next;
}

/** Sets the identity headers on `headers` (replacing what is there). */
export function applyIdentity(
  headers: Headers,
  app: Application,
  identity: Identity,
  meta: HeaderMeta,
): void {
  for (const [name, value] of prepareIdentity(app, identity, meta).pairs) headers.set(name, value);
}
