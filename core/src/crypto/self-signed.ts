/**
 * The "authentik Self-signed Certificate" every install has from its first start (authentik's
 * crypto app makes it the same way), valid for a year. Made once: if a pair with the managed key or
 * the name exists, nothing happens. The key is ECDSA P-256 rather than authentik's RSA-4096: it signs
 * ≈10× faster on Bun and takes milliseconds, not a second, to make at start.
 */
import { isGatehouseError } from "../../../shared/errors.ts";
import { type CoreContext, inTransaction } from "../context.ts";
import { recordEvent } from "../events/service.ts";
import { uniqueViolation } from "../store/search.ts";
import { generateCertificate } from "./generate.ts";
import { createPair } from "./service.ts";

export const SELF_SIGNED_NAME = "authentik Self-signed Certificate";
export const SELF_SIGNED_MANAGED = "goauthentik.io/crypto/self-signed";

export async function ensureSelfSignedCertificate(ctx: CoreContext): Promise<void> {
  const existing = await ctx.store.db
    .selectFrom("certificate_key_pairs")
    .select("kp_uuid")
    .where((eb) => eb.or([eb("managed", "=", SELF_SIGNED_MANAGED), eb("name", "=", SELF_SIGNED_NAME)]))
    .executeTakeFirst();
  if (existing) return;
  const now = ctx.clock();
  const id = Buffer.from(crypto.getRandomValues(new Uint8Array(12))).toString("hex");
  const pair = await generateCertificate({
    commonName: SELF_SIGNED_NAME,
    subjectAltNames: [`${id}.self-signed.goauthentik.io`],
    validityDays: 365,
    alg: "ecdsa",
    now,
  });
  try {
    await inTransaction(ctx, async (trx) => {
      const row = await createPair(
        trx,
        {
          name: SELF_SIGNED_NAME,
          certificate_data: pair.certificate,
          key_data: pair.key,
          managed: SELF_SIGNED_MANAGED,
        },
        now,
      );
      await recordEvent(ctx, trx, {
        action: "model_created",
        context: {
          model: {
            app: "authentik_crypto",
            model_name: "certificatekeypair",
            pk: row.kp_uuid,
            name: row.name,
          },
          bootstrap: true,
        },
      });
    });
  } catch (err) {
    // Another replica starting at the same moment made it first.
    const nameTaken = isGatehouseError(err) && err.fields?.name !== undefined;
    if (!uniqueViolation(err) && !nameTaken) throw err;
  }
}
