/**
 * Tokens: a 256-bit random key, looked up by its SHA-256 hash and kept sealed (AES-GCM under the
 * installation key) so view_key can show it to its owner or a superuser again.
 */
import type { Selectable } from "kysely";
import { randomSecret, seal, sha256Hex, unseal } from "../../../shared/crypto.ts";
import { notFound, validationError } from "../../../shared/errors.ts";
import { type PageRequest, type Paginated, paginate } from "../api/pagination.ts";
import { boolParam, orderingParam } from "../api/query.ts";
import type { CoreContext, Db } from "../context.ts";
import { toBool, toIso, toIsoOrNull } from "../store/codec.ts";
import type { TokensTable } from "../store/database.ts";
import { containsText } from "../store/search.ts";
import { serializeUsers, type UserOut } from "../users/serialize.ts";
import { findUser } from "../users/service.ts";
import type { TokenIntent, TokenRequest } from "./model.ts";

export type TokenRow = Selectable<TokensTable>;

/** authentik's default lifetime for a token created without `expires`. */
export const DEFAULT_TOKEN_LIFETIME_MS = 30 * 60_000;

export interface TokenOut {
  pk: string;
  managed: string | null;
  identifier: string;
  intent: string;
  user: number;
  user_obj: UserOut;
  description: string;
  expires: string | null;
  expiring: boolean;
}

const ORDERING = {
  identifier: "t.identifier",
  intent: "t.intent",
  user: "t.user_id",
  description: "t.description",
  expires: "t.expires",
  expiring: "t.expiring",
  managed: "t.managed",
} as const;

export async function serializeTokens(ctx: CoreContext, db: Db, rows: TokenRow[]): Promise<TokenOut[]> {
  const userIds = [...new Set(rows.map((r) => r.user_id))];
  const users = userIds.length
    ? await db.selectFrom("users").selectAll().where("id", "in", userIds).execute()
    : [];
  const serialized = new Map((await serializeUsers(db, ctx.installId, users)).map((u) => [u.pk, u]));
  return rows.map((r) => ({
    pk: r.token_uuid,
    managed: r.managed,
    identifier: r.identifier,
    intent: r.intent,
    user: r.user_id,
    user_obj: serialized.get(r.user_id) as UserOut,
    description: r.description,
    expires: toIsoOrNull(r.expires),
    expiring: toBool(r.expiring),
  }));
}

export async function listTokens(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
  scope: { onlyUserId?: number } = {},
): Promise<Paginated<TokenOut>> {
  const kind = ctx.store.kind;
  let q = ctx.store.db.selectFrom("tokens as t").innerJoin("users as u", "u.id", "t.user_id");
  if (scope.onlyUserId !== undefined) q = q.where("t.user_id", "=", scope.onlyUserId);
  for (const field of ["identifier", "intent", "description", "managed"] as const) {
    const v = params.get(field);
    if (v !== null) q = q.where(`t.${field}`, "=", v);
  }
  const username = params.get("user__username");
  if (username !== null) q = q.where("u.username", "=", username);
  const expiring = boolParam(params, "expiring");
  if (expiring !== undefined) q = q.where("t.expiring", "=", expiring);
  const search = params.get("search");
  if (search) {
    q = q.where((eb) =>
      eb.or([
        containsText(kind, "t.identifier", search),
        containsText(kind, "t.intent", search),
        containsText(kind, "u.username", search),
        containsText(kind, "t.description", search),
      ]),
    );
  }
  const order = orderingParam(params, ORDERING, [{ column: "t.identifier", direction: "asc" }]);
  const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  let rowsQ = q.selectAll("t");
  for (const o of order) rowsQ = rowsQ.orderBy(o.column, o.direction);
  const rows = await rowsQ.limit(page.pageSize).offset(page.offset).execute();
  return paginate(await serializeTokens(ctx, ctx.store.db, rows), Number(count), page);
}

export async function getToken(db: Db, identifier: string): Promise<TokenRow> {
  const row = await db
    .selectFrom("tokens")
    .selectAll()
    .where("identifier", "=", identifier)
    .executeTakeFirst();
  if (!row) throw notFound("TK0001TokenNotFound", "No Token matches the given query.");
  return row;
}

export function isExpired(row: TokenRow, now: Date): boolean {
  return toBool(row.expiring) && row.expires !== null && new Date(toIso(row.expires)) <= now;
}

export interface CreatedToken {
  row: TokenRow;
  key: string;
}

export interface CreateTokenInput extends TokenRequest {
  user: number;
  /** A key chosen by the caller (bootstrap token, set_key); otherwise a random one. */
  key?: string;
}

export async function createToken(ctx: CoreContext, db: Db, input: CreateTokenInput): Promise<CreatedToken> {
  await checkUser(db, input.user);
  if (
    await db
      .selectFrom("tokens")
      .select("identifier")
      .where("identifier", "=", input.identifier)
      .executeTakeFirst()
  ) {
    throw validationError("TK0002IdentifierTaken", {
      identifier: ["Token with this identifier already exists."],
    });
  }
  const key = input.key ?? randomSecret();
  await assertKeyFree(db, key);
  const now = ctx.clock();
  const expiring = input.expiring ?? true;
  // Kept as UTC ISO text whatever offset was given, so SQLite orders and compares instants.
  const given = input.expires ? toIso(input.expires) : null;
  const expires = expiring
    ? (given ?? new Date(now.getTime() + DEFAULT_TOKEN_LIFETIME_MS).toISOString())
    : given;
  const row = await db
    .insertInto("tokens")
    .values({
      token_uuid: crypto.randomUUID(),
      identifier: input.identifier,
      key_hash: sha256Hex(key),
      key_sealed: seal(ctx.sealKey, key),
      intent: (input.intent ?? "verification") satisfies TokenIntent,
      user_id: input.user,
      description: input.description ?? "",
      expires,
      expiring,
      managed: input.managed ?? null,
      created: now.toISOString(),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { row, key };
}

/** An unknown user is a field error (authentik's 400), not a 404 of the token route. */
async function checkUser(db: Db, id: number): Promise<void> {
  if (!(await findUser(db, id))) {
    throw validationError("TK0005UnknownUser", { user: [`Invalid pk "${id}" - object does not exist.`] });
  }
}

async function assertKeyFree(db: Db, key: string): Promise<void> {
  if (
    await db
      .selectFrom("tokens")
      .select("identifier")
      .where("key_hash", "=", sha256Hex(key))
      .executeTakeFirst()
  ) {
    throw validationError("TK0003KeyTaken", { key: ["This key is already in use."] });
  }
}

export async function updateToken(
  db: Db,
  identifier: string,
  input: Partial<TokenRequest>,
): Promise<TokenRow> {
  const current = await getToken(db, identifier);
  if (input.identifier !== undefined && input.identifier !== identifier) {
    if (
      await db
        .selectFrom("tokens")
        .select("identifier")
        .where("identifier", "=", input.identifier)
        .executeTakeFirst()
    ) {
      throw validationError("TK0004IdentifierTaken", {
        identifier: ["Token with this identifier already exists."],
      });
    }
  }
  if (input.user !== undefined) await checkUser(db, input.user);
  return db
    .updateTable("tokens")
    .set({
      ...(input.identifier !== undefined && { identifier: input.identifier }),
      ...(input.intent !== undefined && { intent: input.intent }),
      ...(input.user !== undefined && { user_id: input.user }),
      ...(input.description !== undefined && { description: input.description }),
      ...(input.expires !== undefined && { expires: input.expires && toIso(input.expires) }),
      ...(input.expiring !== undefined && { expiring: input.expiring }),
      ...(input.managed !== undefined && { managed: input.managed }),
    })
    .where("token_uuid", "=", current.token_uuid)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteToken(db: Db, identifier: string): Promise<TokenRow> {
  const row = await getToken(db, identifier);
  await db.deleteFrom("tokens").where("token_uuid", "=", row.token_uuid).execute();
  return row;
}

export function revealKey(ctx: CoreContext, row: TokenRow): string {
  return unseal(ctx.sealKey, row.key_sealed);
}

export async function setTokenKey(ctx: CoreContext, db: Db, row: TokenRow, key: string): Promise<void> {
  await assertKeyFree(db, key);
  await db
    .updateTable("tokens")
    .set({ key_hash: sha256Hex(key), key_sealed: seal(ctx.sealKey, key) })
    .where("token_uuid", "=", row.token_uuid)
    .execute();
}
