/** Request schemas for /core/tokens/, as authentik's TokenRequest. */
import { type Static, Type as t } from "@sinclair/typebox";

export const TOKEN_INTENTS = ["verification", "api", "recovery", "app_password"] as const;
export type TokenIntent = (typeof TOKEN_INTENTS)[number];

export const TokenRequest = t.Object({
  managed: t.Optional(t.Union([t.String({ minLength: 1 }), t.Null()])),
  identifier: t.String({ minLength: 1, maxLength: 255, pattern: "^[-a-zA-Z0-9_]+$" }),
  intent: t.Optional(t.Union(TOKEN_INTENTS.map((v) => t.Literal(v)))),
  user: t.Optional(t.Integer({ minimum: 1 })),
  description: t.Optional(t.String({ maxLength: 1000 })),
  expires: t.Optional(t.Union([t.String({ format: "date-time" }), t.Null()])),
  expiring: t.Optional(t.Boolean()),
});
export type TokenRequest = Static<typeof TokenRequest>;

export const TOKEN_READ_ONLY = ["pk", "user_obj", "key"] as const;

export const TokenSetKeyRequest = t.Object({ key: t.String({ minLength: 1, maxLength: 512 }) });
