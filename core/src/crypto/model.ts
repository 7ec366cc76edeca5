/** Request schemas for /crypto/certificatekeypairs/, as authentik's serializers. */
import { type Static, Type as t } from "@sinclair/typebox";
import { GENERATION_ALGS } from "./generate.ts";

export const CertificateKeyPairRequest = t.Object({
  name: t.String({ minLength: 1, maxLength: 1000 }),
  certificate_data: t.String({ minLength: 1, maxLength: 1_000_000 }),
  key_data: t.Optional(t.String({ maxLength: 1_000_000 })),
});
export type CertificateKeyPairRequest = Static<typeof CertificateKeyPairRequest>;

export const CertificateGenerationRequest = t.Object({
  common_name: t.String({ minLength: 1, maxLength: 64 }),
  subject_alt_name: t.Optional(t.String({ maxLength: 10_000 })),
  validity_days: t.Integer({ minimum: 1, maximum: 36_500 }),
  alg: t.Optional(t.Union(GENERATION_ALGS.map((a) => t.Literal(a)))),
});
export type CertificateGenerationRequest = Static<typeof CertificateGenerationRequest>;

/** Fields a client may echo back from a read; they are ignored on write. */
export const CERTIFICATE_READ_ONLY = [
  "pk",
  "fingerprint_sha256",
  "fingerprint_sha1",
  "cert_expiry",
  "cert_subject",
  "private_key_available",
  "key_type",
  "certificate_download_url",
  "private_key_download_url",
  "managed",
] as const;
