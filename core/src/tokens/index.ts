/** /api/v3/core/tokens/ — authentik's TokenViewSet, with view_key (logged as secret_view) and set_key. */
import { Elysia } from "elysia";
import { notFound, validationError } from "../../../shared/errors.ts";
import { audit, auditModel } from "../api/audit.ts";
import { authenticated, noContent } from "../api/authenticated.ts";
import { parseBody } from "../api/body.ts";
import { doc } from "../api/doc.ts";
import { pageRequest } from "../api/pagination.ts";
import type { RequestMeta } from "../api/request.ts";
import { type Actor, requireSuperuser } from "../auth/actor.ts";
import { type CoreContext, type Db, inTransaction } from "../context.ts";
import { signalsDirectoryChanges } from "../outposts/directory-signal.ts";
import { fromJson } from "../store/codec.ts";
import { TOKEN_READ_ONLY, TokenRequest, TokenSetKeyRequest } from "./model.ts";
import {
  createToken,
  deleteToken,
  getToken,
  isExpired,
  listTokens,
  revealKey,
  serializeTokens,
  setTokenKey,
  type TokenRow,
  updateToken,
} from "./service.ts";

interface Args {
  actor: Actor;
  meta: RequestMeta;
  body: unknown;
  params: { identifier: string };
}

const tokenModel = (row: TokenRow) => ({ name: "token", pk: row.token_uuid, label: row.identifier });

/** Whether a non-superuser may hold tokens that never expire (authentik's user attribute; yes by default). */
const TOKEN_EXPIRES_ATTRIBUTE = "goauthentik.io/user/token-expires";
/** The intents the API makes tokens for; verification and recovery tokens are the flows' own. */
const API_INTENTS = new Set(["api", "app_password"]);

/**
 * authentik's TokenSerializer and perform_create rules: only API and app-password tokens, and a
 * non-superuser's tokens expire unless the user's `goauthentik.io/user/token-expires` attribute is false
 * (on create, as authentik; on update too, so a PATCH cannot undo it).
 */
function apiTokenRules<T extends TokenRequest>(actor: Actor, input: T, creating = false): T {
  if (input.intent !== undefined && !API_INTENTS.has(input.intent))
    throw validationError("TK0006InvalidIntent", { intent: [`Invalid intent ${input.intent}`] });
  if (actor.superuser) return input;
  const mustExpire =
    fromJson<Record<string, unknown>>(actor.user.attributes)[TOKEN_EXPIRES_ATTRIBUTE] !== false;
  if (creating) return { ...input, expiring: mustExpire || (input.expiring ?? false) };
  if (mustExpire && input.expiring === false)
    throw validationError("TK0007MustExpire", { expiring: ["Your tokens must expire."] });
  return input;
}

/** A token is visible to its owner and to superusers; to anyone else it does not exist. */
async function visibleToken(db: Db, actor: Actor, identifier: string): Promise<TokenRow> {
  const row = await getToken(db, identifier);
  if (!actor.superuser && row.user_id !== actor.user.id) {
    throw notFound("TK0010NotVisible", "No Token matches the given query.");
  }
  return row;
}

export function tokensController(ctx: CoreContext) {
  const update =
    (partial: boolean) =>
    async ({ actor, meta, body, params }: Args) => {
      const input = apiTokenRules(
        actor,
        parseBody(TokenRequest, body, { readOnly: TOKEN_READ_ONLY, partial }),
      );
      // Non-superusers keep their tokens their own.
      if (!actor.superuser && input.user !== undefined && input.user !== actor.user.id) {
        requireSuperuser(actor);
      }
      return inTransaction(ctx, async (trx) => {
        const current = await visibleToken(trx, actor, params.identifier);
        // Echoing `managed` back unchanged (as a PUT of the token read does) is no change.
        if (!actor.superuser && input.managed !== undefined && input.managed !== current.managed) {
          requireSuperuser(actor);
        }
        const row = await updateToken(trx, params.identifier, input);
        await auditModel(ctx, trx, actor, meta, "model_updated", tokenModel(row));
        return (await serializeTokens(ctx, trx, [row]))[0];
      });
    };

  return new Elysia({ prefix: "/core/tokens" })
    .use(authenticated(ctx))
    .use(signalsDirectoryChanges(ctx, "credentials"))
    .get(
      "/",
      ({ actor, search }) =>
        listTokens(ctx, search, pageRequest(search), actor.superuser ? {} : { onlyUserId: actor.user.id }),
      doc("core", "core_tokens_list", "PaginatedTokenList"),
    )
    .post(
      "/",
      async ({ actor, meta, body, set }) => {
        const input = apiTokenRules(
          actor,
          parseBody(TokenRequest, body, { readOnly: TOKEN_READ_ONLY }),
          true,
        );
        const user = input.user ?? actor.user.id;
        if (user !== actor.user.id || input.managed) requireSuperuser(actor);
        const out = await inTransaction(ctx, async (trx) => {
          // authentik's API makes API tokens unless told otherwise (the model's own default differs).
          const { row, key } = await createToken(ctx, trx, { ...input, intent: input.intent ?? "api", user });
          await auditModel(ctx, trx, actor, meta, "model_created", tokenModel(row));
          // The key is shown here once; later only through view_key.
          return { ...(await serializeTokens(ctx, trx, [row]))[0], key };
        });
        set.status = 201;
        return out;
      },
      doc("core", "core_tokens_create", "Token", TokenRequest, 201),
    )
    .get(
      "/:identifier/",
      async ({ actor, params }) => {
        const row = await visibleToken(ctx.store.db, actor, params.identifier);
        return (await serializeTokens(ctx, ctx.store.db, [row]))[0];
      },
      doc("core", "core_tokens_retrieve", "Token"),
    )
    .put("/:identifier/", update(false), doc("core", "core_tokens_update", "Token", TokenRequest))
    .patch("/:identifier/", update(true), doc("core", "core_tokens_partial_update", "Token", TokenRequest))
    .delete(
      "/:identifier/",
      async ({ actor, meta, params }) => {
        await inTransaction(ctx, async (trx) => {
          await visibleToken(trx, actor, params.identifier);
          const row = await deleteToken(trx, params.identifier);
          await auditModel(ctx, trx, actor, meta, "model_deleted", tokenModel(row));
        });
        return noContent();
      },
      doc("core", "core_tokens_destroy", "No response body", undefined, 204),
    )
    .get(
      "/:identifier/view_key/",
      async ({ actor, meta, params }) => {
        return inTransaction(ctx, async (trx) => {
          const row = await visibleToken(trx, actor, params.identifier);
          if (isExpired(row, ctx.clock())) throw notFound("TK0011Expired", "Token not found or expired.");
          await audit(ctx, trx, actor, meta, "secret_view", {
            secret: { app: "authentik_core", model_name: "token", pk: row.token_uuid, name: row.identifier },
          });
          return { key: revealKey(ctx, row) };
        });
      },
      doc("core", "core_tokens_view_key_retrieve", "TokenView"),
    )
    .post(
      "/:identifier/set_key/",
      async ({ actor, meta, body, params }: Args) => {
        requireSuperuser(actor);
        const { key } = parseBody(TokenSetKeyRequest, body);
        await inTransaction(ctx, async (trx) => {
          const row = await getToken(trx, params.identifier);
          await setTokenKey(ctx, trx, row, key);
          await audit(ctx, trx, actor, meta, "secret_rotate", {
            secret: { app: "authentik_core", model_name: "token", pk: row.token_uuid, name: row.identifier },
          });
        });
        return noContent();
      },
      doc("core", "core_tokens_set_key_create", "Successfully changed key", TokenSetKeyRequest, 204),
    );
}
