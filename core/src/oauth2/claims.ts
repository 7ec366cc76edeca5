/**
 * What a token says about its user: `sub` as the provider's sub_mode says, the issuer, and the claims
 * of the scope mappings (CEL expressions returning a map) for the scopes granted.
 */
import type { CoreContext } from "../context.ts";
import { celUser, compileExpression } from "../policies/expression.ts";
import type { ProviderRow } from "../providers/base.ts";
import { oauth2Settings } from "../providers/oauth2.ts";
import { fromJson } from "../store/codec.ts";
import type { UserRow } from "../users/serialize.ts";
import { userUid } from "../users/serialize.ts";
import { oauth2Cache } from "./cache.ts";

export type ScopeMapping = { scope_name: string | null; expression: string; description: string | null };

/** The provider's scope mappings, in the order configured; kept in the OAuth2 cache (cache.ts). */
export async function scopeMappings(ctx: CoreContext, provider: ProviderRow): Promise<ScopeMapping[]> {
  const ids = oauth2Settings(provider).property_mappings;
  if (ids.length === 0) return [];
  return oauth2Cache(ctx).get(`scope-mappings:${provider.id}:${ids.join(",")}`, () =>
    ctx.store.db
      .selectFrom("property_mappings")
      .select(["scope_name", "expression", "description"])
      .where("pm_uuid", "in", ids)
      .where("kind", "=", "scope")
      .execute(),
  );
}

/** CEL values as JSON: maps to objects, ints to numbers, bytes to base64. */
function celJson(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map(celJson);
  if (value && typeof value === "object") {
    const entries = (value as { entries?: () => Iterable<[unknown, unknown]> }).entries;
    if (typeof entries === "function" && !(value instanceof Error))
      return Object.fromEntries([...entries.call(value)].map(([k, v]) => [String(k), celJson(v)]));
    if (Symbol.iterator in (value as object)) return [...(value as Iterable<unknown>)].map(celJson);
  }
  return value;
}

/** The claims the mappings of the granted scopes give for this user (later scopes win on a clash). */
export async function scopeClaims(
  ctx: CoreContext,
  mappings: ScopeMapping[],
  user: UserRow,
  scopes: string[],
): Promise<Record<string, unknown>> {
  const chosen = mappings.filter((m) => scopes.includes(m.scope_name ?? ""));
  if (chosen.length === 0) return {};
  const activation = { user: await celUser(ctx.store.db, user), request: { scopes } };
  const claims: Record<string, unknown> = {};
  for (const m of chosen) {
    const result = (await compileExpression(m.expression))(activation as never);
    if (result instanceof Error) {
      ctx.log.warn("a scope mapping failed", {
        code: "OA0002ScopeMapping",
        scope: m.scope_name,
        error: result.message,
      });
      continue;
    }
    const value = celJson(result);
    if (value && typeof value === "object" && !Array.isArray(value)) Object.assign(claims, value);
  }
  return claims;
}

/** The issuer: per provider, `<origin>/application/o/<slug>/`; global, `<origin>/`. */
export async function issuerOf(ctx: CoreContext, origin: string, provider: ProviderRow): Promise<string> {
  if (oauth2Settings(provider).issuer_mode === "global") return `${origin}/`;
  const slug = await oauth2Cache(ctx).get(`application-slug:${provider.id}`, async () => {
    const app = await ctx.store.db
      .selectFrom("applications")
      .select("slug")
      .where("provider", "=", provider.id)
      .executeTakeFirst();
    return app?.slug ?? "";
  });
  return `${origin}/application/o/${slug}/`;
}

/** `sub` as the provider's sub_mode says (authentik's SubModes). */
export function subject(ctx: CoreContext, mode: string, user: UserRow): string {
  switch (mode) {
    case "user_id":
      return String(user.id);
    case "user_uuid":
      return user.uuid;
    case "user_username":
      return user.username;
    case "user_email":
      return user.email;
    case "user_upn": {
      const upn = fromJson<{ upn?: unknown }>(user.attributes).upn;
      return typeof upn === "string" ? upn : userUid(ctx.installId, user.id);
    }
    default:
      return userUid(ctx.installId, user.id);
  }
}

/**
 * The `sid` claim for a browser session: its stored hash (SHA-256 of the cookie value), as authentik
 * uses `hash_session_key` — the same value SESSION_END carries to the outposts, so a proxy outpost can
 * end the sessions it built on this login.
 */
export const sessionSid = (sessionHash: string): string => sessionHash;
