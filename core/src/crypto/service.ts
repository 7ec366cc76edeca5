/**
 * Certificate-key pairs in the store: checked, saved with what their certificate says, listed and
 * serialized without their key. The private key leaves only through `view_private_key`.
 */
import type { Selectable } from "kysely";
import { notFound, validationError } from "../../../shared/errors.ts";
import { type PageRequest, type Paginated, paginate } from "../api/pagination.ts";
import { boolParam, listParam, orderingParam } from "../api/query.ts";
import type { CoreContext, Db } from "../context.ts";
import { toIso } from "../store/codec.ts";
import type { CertificateKeyPairsTable } from "../store/database.ts";
import { containsText } from "../store/search.ts";
import {
  type CertificateFacts,
  certificateFacts,
  KEY_TYPES,
  keyMatches,
  parseCertificate,
  parsePrivateKey,
} from "./inspect.ts";
import type { CertificateKeyPairRequest } from "./model.ts";

export type PairRow = Selectable<CertificateKeyPairsTable>;

export const PAIR_PATH = "/api/v3/crypto/certificatekeypairs";

export function serializePair(row: PairRow) {
  return {
    pk: row.kp_uuid,
    name: row.name,
    fingerprint_sha256: row.fingerprint_sha256,
    fingerprint_sha1: row.fingerprint_sha1,
    cert_expiry: toIso(row.cert_expiry),
    cert_subject: row.cert_subject,
    private_key_available: row.key_data !== "",
    key_type: row.key_type,
    certificate_download_url: `${PAIR_PATH}/${row.kp_uuid}/view_certificate/?download`,
    private_key_download_url: `${PAIR_PATH}/${row.kp_uuid}/view_private_key/?download`,
    managed: row.managed,
  };
}

export async function getPair(db: Db, uuid: string): Promise<PairRow> {
  const row = await db
    .selectFrom("certificate_key_pairs")
    .selectAll()
    .where("kp_uuid", "=", uuid)
    .executeTakeFirst();
  if (!row) throw notFound("CK0001PairNotFound", "No Certificate-Key Pair matches the given query.");
  return row;
}

export async function pairExists(db: Db, uuid: string): Promise<boolean> {
  return !!(await db
    .selectFrom("certificate_key_pairs")
    .select("kp_uuid")
    .where("kp_uuid", "=", uuid)
    .executeTakeFirst());
}

export async function listPairs(
  ctx: CoreContext,
  params: URLSearchParams,
  page: PageRequest,
): Promise<Paginated<unknown>> {
  let q = ctx.store.db.selectFrom("certificate_key_pairs");
  if (boolParam(params, "has_key")) q = q.where("key_data", "!=", "");
  const name = params.get("name");
  if (name) q = q.where("name", "=", name);
  const managed = params.get("managed");
  if (managed) q = q.where("managed", "=", managed);
  const types = listParam(params, "key_type");
  const unknown = types.find((v) => !(KEY_TYPES as readonly string[]).includes(v));
  if (unknown !== undefined)
    throw validationError("CK0003InvalidKeyType", {
      key_type: [`Select a valid choice. ${unknown} is not one of the available choices.`],
    });
  if (types.length > 0) q = q.where("key_type", "in", types);
  const search = params.get("search");
  if (search) q = q.where(containsText(ctx.store.kind, "name", search));
  const { count } = await q.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  let rows = q.selectAll();
  const allowed = {
    name: "name",
    managed: "managed",
    cert_expiry: "cert_expiry",
    cert_subject: "cert_subject",
    key_type: "key_type",
    pk: "kp_uuid",
  } as const;
  for (const o of orderingParam(params, allowed, [{ column: "name", direction: "asc" }]))
    rows = rows.orderBy(o.column, o.direction);
  const found = await rows.limit(page.pageSize).offset(page.offset).execute();
  return paginate(found.map(serializePair), Number(count), page);
}

interface CheckedPair {
  certificate_data: string;
  key_data: string;
  facts: CertificateFacts;
}

/** Field errors as authentik's serializer gives them; a key must also belong to the certificate. */
async function checkPair(
  db: Db,
  input: { name?: string; certificate_data: string; key_data: string },
  except?: string,
): Promise<CheckedPair> {
  const fields: Record<string, string[]> = {};
  if (input.name !== undefined) {
    let q = db.selectFrom("certificate_key_pairs").select("kp_uuid").where("name", "=", input.name);
    if (except !== undefined) q = q.where("kp_uuid", "!=", except);
    if (await q.executeTakeFirst()) fields.name = ["Certificate-Key Pair with this name already exists."];
  }
  const cert = parseCertificate(input.certificate_data);
  if (!cert) fields.certificate_data = ["Unable to load certificate."];
  if (input.key_data !== "") {
    const key = parsePrivateKey(input.key_data);
    if (!key) fields.key_data = ["Unable to load private key (possibly encrypted?)."];
    else if (cert && !keyMatches(cert, key))
      fields.key_data = ["Private key does not match the certificate."];
  }
  if (!cert || Object.keys(fields).length > 0) throw validationError("CK0002InvalidPair", fields);
  return {
    certificate_data: input.certificate_data,
    key_data: input.key_data,
    facts: await certificateFacts(cert),
  };
}

export async function createPair(
  db: Db,
  input: CertificateKeyPairRequest & { managed?: string | null },
  now: Date,
): Promise<PairRow> {
  const checked = await checkPair(db, { ...input, key_data: input.key_data ?? "" });
  const at = now.toISOString();
  return db
    .insertInto("certificate_key_pairs")
    .values({
      kp_uuid: crypto.randomUUID(),
      name: input.name,
      certificate_data: checked.certificate_data,
      key_data: checked.key_data,
      managed: input.managed ?? null,
      ...checked.facts,
      created: at,
      last_updated: at,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updatePair(
  db: Db,
  uuid: string,
  input: Partial<CertificateKeyPairRequest>,
  now: Date,
): Promise<PairRow> {
  const current = await getPair(db, uuid);
  const checked = await checkPair(
    db,
    {
      name: input.name,
      certificate_data: input.certificate_data ?? current.certificate_data,
      key_data: input.key_data ?? current.key_data,
    },
    uuid,
  );
  return db
    .updateTable("certificate_key_pairs")
    .set({
      ...(input.name !== undefined && { name: input.name }),
      certificate_data: checked.certificate_data,
      key_data: checked.key_data,
      ...checked.facts,
      last_updated: now.toISOString(),
    })
    .where("kp_uuid", "=", uuid)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deletePair(db: Db, uuid: string): Promise<PairRow> {
  const row = await getPair(db, uuid);
  await db.deleteFrom("certificate_key_pairs").where("kp_uuid", "=", uuid).execute();
  return row;
}
