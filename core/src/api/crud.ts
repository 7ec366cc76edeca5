/**
 * The usual REST shape for a superuser-managed object type: list, create, retrieve, update (PUT and
 * PATCH) and delete, each write in one transaction with its model_* event. A type supplies its schema
 * and service functions; everything else is here once.
 */
import type { Static, TObject } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { notFound } from "../../../shared/errors.ts";
import { type Actor, requireSuperuser } from "../auth/actor.ts";
import { type CoreContext, type Db, inTransaction } from "../context.ts";
import { auditModel } from "./audit.ts";
import { authenticated, noContent } from "./authenticated.ts";
import { parseBody } from "./body.ts";
import { isUuid } from "./formats.ts";
import { type PageRequest, type Paginated, pageRequest } from "./pagination.ts";
import type { RequestMeta } from "./request.ts";

export interface CrudSpec<Row, S extends TObject> {
  prefix: string;
  tag: string;
  operation: string;
  schema: S;
  readOnly: readonly string[];
  list(
    ctx: CoreContext,
    params: URLSearchParams,
    page: PageRequest,
    actor: Actor,
  ): Promise<Paginated<unknown>>;
  get(db: Db, key: string, actor?: Actor): Promise<Row>;
  /** Writes get `afterCommit`: what it is given runs once the transaction has committed (signals). */
  create(db: Db, input: Static<S>, actor: Actor, afterCommit: AfterCommit): Promise<Row>;
  update(db: Db, key: string, input: Partial<Static<S>>, afterCommit: AfterCommit): Promise<Row>;
  remove(db: Db, key: string, afterCommit: AfterCommit): Promise<Row>;
  serialize(db: Db, row: Row): Promise<unknown> | unknown;
  model(row: Row): { name: string; pk: string | number; label: string };
  /** Turns the path segment into a key, or throws 404; uuids by default. */
  key?: (raw: string) => string;
  /** List and retrieve are open to every signed-in user (list and get then narrow by `actor`). */
  readableByAll?: boolean;
}

export type AfterCommit = (fn: () => void) => void;

/**
 * One transaction; callbacks handed to `afterCommit` run after it commits (never on rollback). Work that
 * reads the store outside the transaction (signal handlers) must wait for the commit: on SQLite the one
 * connection is held until then, so it would deadlock, and elsewhere it would read the old rows.
 */
export async function inTransactionThen<T>(
  ctx: CoreContext,
  fn: (trx: Db, afterCommit: AfterCommit) => Promise<T>,
): Promise<T> {
  const deferred: (() => void)[] = [];
  const out = await inTransaction(ctx, (trx) => fn(trx, (f) => deferred.push(f)));
  for (const f of deferred) f();
  return out;
}

export function uuidKey(raw: string): string {
  if (!isUuid(raw)) throw notFound("API0030BadUuid", "Not found.");
  return raw.toLowerCase();
}

export function crudRoutes<Row, S extends TObject>(ctx: CoreContext, spec: CrudSpec<Row, S>) {
  const keyOf = spec.key ?? uuidKey;
  const op = (verb: string) => ({ detail: { tags: [spec.tag], operationId: `${spec.operation}_${verb}` } });
  const write = (
    actor: Actor,
    meta: RequestMeta,
    action: "model_created" | "model_updated",
    run: (db: Db, afterCommit: AfterCommit) => Promise<Row>,
  ) =>
    inTransactionThen(ctx, async (trx, afterCommit) => {
      const row = await run(trx, afterCommit);
      await auditModel(ctx, trx, actor, meta, action, spec.model(row));
      return spec.serialize(trx, row);
    });
  const update = (req: { actor: Actor; meta: RequestMeta; key: string; body: unknown }, partial: boolean) => {
    const input = parseBody(spec.schema, req.body, { readOnly: spec.readOnly, partial });
    return write(req.actor, req.meta, "model_updated", (db, after) =>
      spec.update(db, keyOf(req.key), input, after),
    );
  };
  const readable = (actor: Actor) => {
    if (!spec.readableByAll) requireSuperuser(actor);
  };
  return new Elysia({ prefix: spec.prefix })
    .use(authenticated(ctx))
    .onBeforeHandle(({ actor, request }) =>
      request.method === "GET" ? readable(actor) : requireSuperuser(actor),
    )
    .get("/", ({ actor, search }) => spec.list(ctx, search, pageRequest(search), actor), op("list"))
    .post(
      "/",
      async ({ actor, meta, body, set }) => {
        const input = parseBody(spec.schema, body, { readOnly: spec.readOnly });
        const out = await write(actor, meta, "model_created", (db, after) =>
          spec.create(db, input, actor, after),
        );
        set.status = 201;
        return out;
      },
      op("create"),
    )
    .get(
      "/:key/",
      async ({ actor, params }) =>
        spec.serialize(ctx.store.db, await spec.get(ctx.store.db, keyOf(params.key), actor)),
      op("retrieve"),
    )
    .put(
      "/:key/",
      ({ actor, meta, params, body }) => update({ actor, meta, key: params.key, body }, false),
      op("update"),
    )
    .patch(
      "/:key/",
      ({ actor, meta, params, body }) => update({ actor, meta, key: params.key, body }, true),
      op("partial_update"),
    )
    .delete(
      "/:key/",
      async ({ actor, meta, params }) => {
        await inTransactionThen(ctx, async (trx, afterCommit) => {
          const row = await spec.remove(trx, keyOf(params.key), afterCommit);
          await auditModel(ctx, trx, actor, meta, "model_deleted", spec.model(row));
        });
        return noContent();
      },
      op("destroy"),
    );
}
