/** Request schema for /core/brands/, as authentik's BrandRequest. */
import { type Static, Type as t } from "@sinclair/typebox";

const uuidOrNull = t.Optional(t.Union([t.String({ format: "uuid" }), t.Null()]));

export const FLOW_FIELDS = [
  "flow_authentication",
  "flow_invalidation",
  "flow_recovery",
  "flow_unenrollment",
  "flow_user_settings",
  "flow_device_code",
] as const;

export const BrandRequest = t.Object({
  domain: t.String({ minLength: 1, maxLength: 253 }),
  default: t.Optional(t.Boolean()),
  branding_title: t.Optional(t.String({ minLength: 1, maxLength: 300 })),
  branding_logo: t.Optional(t.String({ minLength: 1, maxLength: 2000 })),
  branding_favicon: t.Optional(t.String({ minLength: 1, maxLength: 2000 })),
  branding_custom_css: t.Optional(t.String({ maxLength: 100_000 })),
  branding_default_flow_background: t.Optional(t.String({ minLength: 1, maxLength: 2000 })),
  flow_authentication: uuidOrNull,
  flow_invalidation: uuidOrNull,
  flow_recovery: uuidOrNull,
  flow_unenrollment: uuidOrNull,
  flow_user_settings: uuidOrNull,
  flow_device_code: uuidOrNull,
  default_application: uuidOrNull,
  web_certificate: uuidOrNull,
  client_certificates: t.Optional(t.Array(t.String({ format: "uuid" }))),
  attributes: t.Optional(t.Record(t.String(), t.Unknown())),
});
export type BrandRequest = Static<typeof BrandRequest>;

export const BRAND_READ_ONLY = ["brand_uuid"] as const;
