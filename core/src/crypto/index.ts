/**
 * /api/v3/crypto/certificatekeypairs/ — authentik's CertificateKeyPairViewSet, for superusers only:
 * list, create, retrieve, update, delete, `generate/`, `view_certificate/`, `view_private_key/` (both
 * logged as secret_view) and `used_by/`. Changing or deleting a pair an LDAP provider uses tells the
 * outposts serving it to refresh, once the change is committed.
 */
import { Elysia } from "elysia";
import { validationError } from "../../../shared/errors.ts";
import { audit } from "../api/audit.ts";
import { authenticated, noContent } from "../api/authenticated.ts";
import { parseBody } from "../api/body.ts";
import { uuidKey } from "../api/crud.ts";
import { doc } from "../api/doc.ts";
import { pageRequest } from "../api/pagination.ts";
import type { RequestMeta } from "../api/request.ts";
import { type Actor, requireSuperuser } from "../auth/actor.ts";
import { type CoreContext, type Db, inTransaction } from "../context.ts";
import type { EventAction } from "../events/actions.ts";
import { oauth2Changed } from "../oauth2/cache.ts";
import { outpostOfUser } from "../outposts/service.ts";
import { generateCertificate, SUPPORTED_ALGS } from "./generate.ts";
import { CERTIFICATE_READ_ONLY, CertificateGenerationRequest, CertificateKeyPairRequest } from "./model.ts";
import {
  createPair,
  deletePair,
  getPair,
  listPairs,
  type PairRow,
  serializePair,
  updatePair,
} from "./service.ts";
import { detachPair, outpostsUsing, usedBy } from "./usage.ts";

const TAG = "crypto";
/** The routes an outpost may read for its own providers' pairs: retrieve and the two views. */
const OUTPOST_READABLE =
  /\/crypto\/certificatekeypairs\/[0-9a-fA-F-]{32,36}\/(view_certificate\/|view_private_key\/)?$/;
const op = (id: string, response: string, body?: Parameters<typeof doc>[3], status = 200) =>
  doc(TAG, `crypto_certificatekeypairs_${id}`, response, body, status);

const modelRef = (row: PairRow) => ({
  app: "authentik_crypto",
  model_name: "certificatekeypair",
  pk: row.kp_uuid,
  name: row.name,
});

/** `?download`, a flag by its presence alone (the filtered `search` leaves out empty values). */
const wantsDownload = (request: Request) => new URL(request.url).searchParams.has("download");

/** A PEM file as authentik sends it: application/x-pem-file, as an attachment named after the pair. */
function pemDownload(name: string, suffix: string, data: string): Response {
  const safe = name.replace(/[^\w.@ -]/g, "_");
  return new Response(data, {
    headers: {
      "content-type": "application/x-pem-file",
      "content-disposition": `attachment; filename="${safe}_${suffix}.pem"; filename*=UTF-8''${encodeURIComponent(`${name}_${suffix}.pem`)}`,
    },
  });
}

export function certificatesController(ctx: CoreContext) {
  const notify = (outposts: string[]) => {
    for (const outpost of outposts) ctx.signals.emit({ kind: "outpost_changed", outpost });
    // An OAuth2 provider may sign with the pair.
    oauth2Changed(ctx);
  };
  /** One write, its audit event, and the outposts to tell once it is committed. */
  const write = async (
    actor: Actor,
    meta: RequestMeta,
    action: Extract<EventAction, "model_created" | "model_updated">,
    run: (db: Db) => Promise<PairRow>,
  ) => {
    const { row, outposts } = await inTransaction(ctx, async (trx) => {
      const row = await run(trx);
      await audit(ctx, trx, actor, meta, action, { model: modelRef(row) });
      return { row, outposts: action === "model_updated" ? await outpostsUsing(trx, row.kp_uuid) : [] };
    });
    notify(outposts);
    return serializePair(row);
  };
  const update =
    (partial: boolean) =>
    ({
      actor,
      meta,
      params,
      body,
    }: {
      actor: Actor;
      meta: RequestMeta;
      params: { kp_uuid: string };
      body: unknown;
    }) => {
      const input = parseBody(CertificateKeyPairRequest, body, { readOnly: CERTIFICATE_READ_ONLY, partial });
      const uuid = uuidKey(params.kp_uuid);
      return write(actor, meta, "model_updated", (db) => updatePair(db, uuid, input, ctx.clock()));
    };
  /** Superusers, and the outposts whose providers use the pair (to serve TLS with it). */
  const mayRead = async (actor: Actor, row: PairRow) => {
    if (actor.superuser) return;
    const outpost = await outpostOfUser(ctx.store.db, actor.user.id);
    if (outpost && (await outpostsUsing(ctx.store.db, row.kp_uuid)).includes(outpost.outpost_uuid)) return;
    requireSuperuser(actor);
  };
  /** Reading the certificate or the key is logged, as authentik does. */
  const viewed = (actor: Actor, meta: RequestMeta, row: PairRow, type: "certificate" | "private_key") =>
    audit(ctx, ctx.store.db, actor, meta, "secret_view", { secret: modelRef(row), type });

  return (
    new Elysia({ prefix: "/crypto/certificatekeypairs" })
      .use(authenticated(ctx))
      // Superusers only, except that an outpost may read the pairs its own providers use (handlers check).
      .onBeforeHandle(({ actor, request }) => {
        if (!(request.method === "GET" && OUTPOST_READABLE.test(new URL(request.url).pathname)))
          requireSuperuser(actor);
      })
      .get("/", ({ search }) => listPairs(ctx, search, pageRequest(search)), op("list", "CertificateKeyPair"))
      .post(
        "/",
        async ({ actor, meta, body, set }) => {
          const input = parseBody(CertificateKeyPairRequest, body, { readOnly: CERTIFICATE_READ_ONLY });
          const out = await write(actor, meta, "model_created", (db) => createPair(db, input, ctx.clock()));
          set.status = 201;
          return out;
        },
        op("create", "CertificateKeyPair", CertificateKeyPairRequest, 201),
      )
      .post(
        "/generate/",
        async ({ actor, meta, body }) => {
          const input = parseBody(CertificateGenerationRequest, body);
          const alg = input.alg ?? "rsa";
          if (!SUPPORTED_ALGS.includes(alg))
            throw validationError("CK0010UnsupportedAlg", { alg: [`"${alg}" is not supported here.`] });
          const raw = input.subject_alt_name ?? "";
          const pair = await generateCertificate({
            commonName: input.common_name,
            subjectAltNames: raw === "" ? [] : raw.split(",").map((s) => s.trim()),
            validityDays: input.validity_days,
            alg,
            now: ctx.clock(),
          });
          return write(actor, meta, "model_created", (db) =>
            createPair(
              db,
              { name: input.common_name, certificate_data: pair.certificate, key_data: pair.key },
              ctx.clock(),
            ),
          );
        },
        op("generate_create", "CertificateKeyPair", CertificateGenerationRequest),
      )
      .get(
        "/:kp_uuid/",
        async ({ actor, params }) => {
          const row = await getPair(ctx.store.db, uuidKey(params.kp_uuid));
          await mayRead(actor, row);
          return serializePair(row);
        },
        op("retrieve", "CertificateKeyPair"),
      )
      .put("/:kp_uuid/", update(false), op("update", "CertificateKeyPair", CertificateKeyPairRequest))
      .patch(
        "/:kp_uuid/",
        update(true),
        op("partial_update", "CertificateKeyPair", CertificateKeyPairRequest),
      )
      .delete(
        "/:kp_uuid/",
        async ({ actor, meta, params }) => {
          const uuid = uuidKey(params.kp_uuid);
          const outposts = await inTransaction(ctx, async (trx) => {
            const affected = await outpostsUsing(trx, uuid);
            await detachPair(trx, uuid);
            const row = await deletePair(trx, uuid);
            await audit(ctx, trx, actor, meta, "model_deleted", { model: modelRef(row) });
            return affected;
          });
          notify(outposts);
          return noContent();
        },
        op("destroy", "No response body", undefined, 204),
      )
      .get(
        "/:kp_uuid/used_by/",
        async ({ params }) => {
          const row = await getPair(ctx.store.db, uuidKey(params.kp_uuid));
          return usedBy(ctx.store.db, row.kp_uuid);
        },
        op("used_by_list", "UsedBy"),
      )
      .get(
        "/:kp_uuid/view_certificate/",
        async ({ actor, meta, params, request }) => {
          const row = await getPair(ctx.store.db, uuidKey(params.kp_uuid));
          await mayRead(actor, row);
          await viewed(actor, meta, row, "certificate");
          if (wantsDownload(request)) return pemDownload(row.name, "certificate", row.certificate_data);
          return { data: row.certificate_data };
        },
        op("view_certificate_retrieve", "CertificateData"),
      )
      .get(
        "/:kp_uuid/view_private_key/",
        async ({ actor, meta, params, request }) => {
          const row = await getPair(ctx.store.db, uuidKey(params.kp_uuid));
          await mayRead(actor, row);
          await viewed(actor, meta, row, "private_key");
          if (wantsDownload(request)) return pemDownload(row.name, "private_key", row.key_data);
          return { data: row.key_data };
        },
        op("view_private_key_retrieve", "CertificateData"),
      )
  );
}
