/**
 * The reply attributes a RADIUS provider gives a user: each of its property mappings (CEL, seeing
 * `user` with its groups and attributes, `provider` and `request`) returns a map of attribute name →
 * value(s); the results are merged in order and encoded. A mapping that fails is a
 * `property_mapping_exception` event and the request is rejected — never accepted without attributes.
 */
import { AttributeError, encodeAttributes } from "../../../shared/radius/attributes.ts";
import type { CoreContext } from "../context.ts";
import { recordEventSafely } from "../events/service.ts";
import { celUser, compileExpression } from "../policies/expression.ts";
import type { UserRow } from "../users/serialize.ts";
import type { ProviderRow } from "./base.ts";
import type { RadiusSettings } from "./radius.ts";

export type ReplyAttributes = { ok: true; attributes: string } | { ok: false; message: string };

const isEntries = (v: unknown): v is { entries(): Iterable<[unknown, unknown]> } =>
  typeof v === "object" && v !== null && typeof (v as { entries?: unknown }).entries === "function";

export async function radiusReplyAttributes(
  ctx: CoreContext,
  provider: ProviderRow,
  settings: RadiusSettings,
  user: UserRow,
  http: { ip: string | null | undefined },
): Promise<ReplyAttributes> {
  if (settings.property_mappings.length === 0) return { ok: true, attributes: "" };
  const mappings = await ctx.store.db
    .selectFrom("property_mappings")
    .selectAll()
    .where("pm_uuid", "in", settings.property_mappings)
    .where("kind", "=", "radius")
    .execute();
  mappings.sort(
    (a, b) => settings.property_mappings.indexOf(a.pm_uuid) - settings.property_mappings.indexOf(b.pm_uuid),
  );
  const activation = {
    user: await celUser(ctx.store.db, user),
    provider: { pk: BigInt(provider.id), name: provider.name },
    request: { client_ip: http.ip ?? "" },
  };
  const merged = new Map<string, unknown>();
  for (const m of mappings) {
    try {
      const result = (await compileExpression(m.expression))(activation as never);
      if (!isEntries(result) || result instanceof Error)
        throw new AttributeError(
          `the mapping must return a map of attribute names to values, got ${describe(result)}`,
        );
      for (const [k, v] of result.entries()) merged.set(String(k), v);
      encodeAttributes(merged.entries()); // fail here, naming this mapping
    } catch (err) {
      const message = `property mapping "${m.name}" failed: ${(err as Error).message}`;
      await recordEventSafely(ctx, {
        action: "property_mapping_exception",
        user: { pk: user.id, username: user.username, email: user.email },
        clientIp: http.ip ?? null,
        context: { mapping: { pk: m.pm_uuid, name: m.name }, provider: provider.name, message },
      });
      return { ok: false, message };
    }
  }
  return { ok: true, attributes: encodeAttributes(merged.entries()).toString("base64") };
}

function describe(v: unknown): string {
  if (v && typeof v === "object" && "message" in v) return `an error (${String(v.message)})`;
  return typeof v;
}
