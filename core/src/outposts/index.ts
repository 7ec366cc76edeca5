/**
 * /api/v3/outposts/instances/ (an outpost's own token sees only its outpost), its health, the default
 * settings, and /api/v3/root/config/.
 */
import { Elysia } from "elysia";
import { forbidden } from "../../../shared/errors.ts";
import { VERSION } from "../../../shared/version.ts";
import { auditModel } from "../api/audit.ts";
import { authenticated, noContent } from "../api/authenticated.ts";
import { parseBody } from "../api/body.ts";
import { uuidKey } from "../api/crud.ts";
import { pageRequest } from "../api/pagination.ts";
import type { RequestMeta } from "../api/request.ts";
import { type Actor, requireSuperuser } from "../auth/actor.ts";
import { type CoreContext, inTransaction } from "../context.ts";
import { toIso } from "../store/codec.ts";
import { healthyInstances } from "./hub.ts";
import { DEFAULT_OUTPOST_CONFIG, OUTPOST_READ_ONLY, OutpostRequest } from "./model.ts";
import {
  createOutpost,
  deleteOutpost,
  getOutpost,
  listOutposts,
  type OutpostRow,
  outpostOfUser,
  serializeOutpost,
  updateOutpost,
} from "./service.ts";

const model = (row: OutpostRow) => ({ name: "outpost", pk: row.outpost_uuid, label: row.name });
const op = (operationId: string) => ({ detail: { tags: ["outposts"], operationId } });

/** Superusers see every outpost; an outpost's service account sees its own; nobody else any. */
async function visibleOutpost(ctx: CoreContext, actor: Actor, uuid: string): Promise<OutpostRow> {
  const row = await getOutpost(ctx.store.db, uuid);
  if (actor.superuser || row.user_id === actor.user.id) return row;
  throw forbidden("OP0020NotYourOutpost");
}

export function outpostsController(ctx: CoreContext) {
  const write = async (actor: Actor, meta: RequestMeta, uuid: string, body: unknown, partial: boolean) => {
    requireSuperuser(actor);
    const input = parseBody(OutpostRequest, body, { readOnly: OUTPOST_READ_ONLY, partial });
    const out = await inTransaction(ctx, async (trx) => {
      const row = await updateOutpost(ctx, trx, uuidKey(uuid), input);
      await auditModel(ctx, trx, actor, meta, "model_updated", model(row));
      return serializeOutpost(trx, row);
    });
    ctx.signals.emit({ kind: "outpost_changed", outpost: out.pk });
    return out;
  };

  return new Elysia()
    .use(authenticated(ctx))
    .get(
      "/root/config/",
      () => ({
        error_reporting: {
          enabled: false,
          sentry_dsn: "",
          environment: "",
          send_pii: false,
          traces_sample_rate: 0,
        },
        capabilities: [],
        cache_timeout: 300,
        cache_timeout_flows: 300,
        cache_timeout_policies: 300,
      }),
      op("root_config_retrieve"),
    )
    .get(
      "/outposts/instances/",
      async ({ actor, search }) => {
        if (actor.superuser) return listOutposts(ctx, search, pageRequest(search));
        if (!(await outpostOfUser(ctx.store.db, actor.user.id))) throw forbidden("OP0021NotAnOutpost");
        return listOutposts(ctx, search, pageRequest(search), { userId: actor.user.id });
      },
      op("outposts_instances_list"),
    )
    .get(
      "/outposts/instances/default_settings/",
      () => ({ config: DEFAULT_OUTPOST_CONFIG }),
      op("outposts_instances_default_settings_retrieve"),
    )
    .post(
      "/outposts/instances/",
      async ({ actor, meta, body, set }) => {
        requireSuperuser(actor);
        const input = parseBody(OutpostRequest, body, { readOnly: OUTPOST_READ_ONLY });
        const out = await inTransaction(ctx, async (trx) => {
          const row = await createOutpost(ctx, trx, input);
          await auditModel(ctx, trx, actor, meta, "model_created", model(row));
          return serializeOutpost(trx, row);
        });
        set.status = 201;
        return out;
      },
      op("outposts_instances_create"),
    )
    .get(
      "/outposts/instances/:uuid/",
      async ({ actor, params }) =>
        serializeOutpost(ctx.store.db, await visibleOutpost(ctx, actor, uuidKey(params.uuid))),
      op("outposts_instances_retrieve"),
    )
    .put(
      "/outposts/instances/:uuid/",
      ({ actor, meta, params, body }) => write(actor, meta, params.uuid, body, false),
      op("outposts_instances_update"),
    )
    .patch(
      "/outposts/instances/:uuid/",
      ({ actor, meta, params, body }) => write(actor, meta, params.uuid, body, true),
      op("outposts_instances_partial_update"),
    )
    .delete(
      "/outposts/instances/:uuid/",
      async ({ actor, meta, params }) => {
        requireSuperuser(actor);
        const uuid = uuidKey(params.uuid);
        await inTransaction(ctx, async (trx) => {
          const row = await deleteOutpost(trx, uuid);
          await auditModel(ctx, trx, actor, meta, "model_deleted", model(row));
        });
        ctx.signals.emit({ kind: "outpost_changed", outpost: uuid });
        return noContent();
      },
      op("outposts_instances_destroy"),
    )
    .get(
      "/outposts/instances/:uuid/health/",
      async ({ actor, params }) => {
        const row = await visibleOutpost(ctx, actor, uuidKey(params.uuid));
        return (await healthyInstances(ctx, row.outpost_uuid)).map((s) => ({
          uid: s.instance_uid,
          last_seen: toIso(s.last_seen),
          version: s.version,
          version_should: VERSION,
          version_outdated: s.version !== "" && s.version !== VERSION,
          build_hash: s.build_hash,
          build_hash_should: "",
          golang_version: "",
          openssl_enabled: false,
          openssl_version: "",
          fips_enabled: null,
          hostname: s.hostname,
        }));
      },
      op("outposts_instances_health_list"),
    );
}
