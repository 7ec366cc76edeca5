/**
 * MFA devices: TOTP (RFC 6238 through `otpauth`, ±1 step, no replay) and static recovery codes
 * (single use, stored as SHA-256). Checks take the clock as a value so tests control time.
 */
import type { Selectable } from "kysely";
import { Secret, TOTP } from "otpauth";
import { randomSecret, seal, sha256Hex, unseal } from "../../../shared/crypto.ts";
import type { CoreContext, Db } from "../context.ts";
import { asJson, fromJson, toBool, toIsoOrNull } from "../store/codec.ts";
import type { AuthenticatorDevicesTable } from "../store/database.ts";

export type DeviceRow = Selectable<AuthenticatorDevicesTable>;
export type DeviceKind = "totp" | "static";

const PERIOD = 30;

export interface TotpConfig {
  digits: 6 | 8;
  period: number;
  algorithm: "SHA1";
}

export async function createTotpDevice(
  ctx: CoreContext,
  db: Db,
  userId: number,
  name: string,
  digits: 6 | 8 = 6,
): Promise<{ device: DeviceRow; secret: string }> {
  const secret = new Secret({ size: 20 }).base32;
  const now = ctx.clock().toISOString();
  const device = await db
    .insertInto("authenticator_devices")
    .values({
      user_id: userId,
      kind: "totp",
      name,
      confirmed: false,
      secret_sealed: seal(ctx.sealKey, secret),
      config: asJson({ digits, period: PERIOD, algorithm: "SHA1" } satisfies TotpConfig),
      created: now,
      last_updated: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { device, secret };
}

export function totpUrl(secret: string, config: TotpConfig, issuer: string, account: string): string {
  return new TOTP({
    issuer,
    label: account,
    secret: Secret.fromBase32(secret),
    digits: config.digits,
    period: config.period,
  }).toString();
}

/** The code a device shows at `at` (tests and the setup page use it). */
export function totpCode(secret: string, at: Date, digits: 6 | 8 = 6): string {
  return TOTP.generate({
    secret: Secret.fromBase32(secret),
    digits,
    period: PERIOD,
    timestamp: at.getTime(),
  });
}

export function revealTotpSecret(ctx: CoreContext, device: DeviceRow): string {
  return unseal(ctx.sealKey, device.secret_sealed as string);
}

/** Checks a TOTP code; on success records the time step so the same code cannot be used twice. */
export async function verifyTotp(
  ctx: CoreContext,
  db: Db,
  device: DeviceRow,
  code: string,
): Promise<boolean> {
  const config = fromJson<TotpConfig>(device.config);
  if (!new RegExp(`^\\d{${config.digits}}$`).test(code)) return false;
  const now = ctx.clock();
  const delta = TOTP.validate({
    token: code,
    secret: Secret.fromBase32(revealTotpSecret(ctx, device)),
    digits: config.digits,
    period: config.period,
    timestamp: now.getTime(),
    window: 1,
  });
  if (delta === null) return false;
  const step = Math.floor(now.getTime() / 1000 / config.period) + delta;
  // Only a strictly later step wins; the conditional update makes a concurrent replay lose.
  const result = await db
    .updateTable("authenticator_devices")
    .set({ last_step: step, last_used: now.toISOString() })
    .where("id", "=", device.id)
    .where("last_step", "<", step)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export function newStaticCodes(count: number, length: number): string[] {
  return Array.from({ length: count }, () =>
    randomSecret(32)
      .replace(/[^a-zA-Z0-9]/g, "")
      .slice(0, length)
      .toLowerCase(),
  );
}

export async function createStaticDevice(
  ctx: CoreContext,
  db: Db,
  userId: number,
  name: string,
  codes: string[],
): Promise<DeviceRow> {
  const now = ctx.clock().toISOString();
  const device = await db
    .insertInto("authenticator_devices")
    .values({
      user_id: userId,
      kind: "static",
      name,
      confirmed: false,
      secret_sealed: null,
      config: asJson({}),
      created: now,
      last_updated: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  if (codes.length > 0) {
    await db
      .insertInto("static_tokens")
      .values(codes.map((c) => ({ device_id: device.id, token_hash: sha256Hex(c) })))
      .execute();
  }
  return device;
}

/** Uses up a static code: true only for the first use. */
export async function useStaticCode(
  ctx: CoreContext,
  db: Db,
  device: DeviceRow,
  code: string,
): Promise<boolean> {
  const result = await db
    .deleteFrom("static_tokens")
    .where("device_id", "=", device.id)
    .where("token_hash", "=", sha256Hex(code.trim().toLowerCase()))
    .executeTakeFirst();
  if (Number(result.numDeletedRows) !== 1) return false;
  await db
    .updateTable("authenticator_devices")
    .set({ last_used: ctx.clock().toISOString() })
    .where("id", "=", device.id)
    .execute();
  return true;
}

export async function confirmDevice(ctx: CoreContext, db: Db, id: number): Promise<void> {
  await db
    .updateTable("authenticator_devices")
    .set({ confirmed: true, last_updated: ctx.clock().toISOString() })
    .where("id", "=", id)
    .execute();
  // A new device changes what a bind needs: cached LDAP/RADIUS binds must be checked again.
  ctx.signals.emit({ kind: "directory_changed", users: [], groups: [] });
}

export async function confirmedDevices(
  db: Db,
  userId: number,
  kinds: readonly string[],
): Promise<DeviceRow[]> {
  if (kinds.length === 0) return [];
  const rows = await db
    .selectFrom("authenticator_devices")
    .selectAll()
    .where("user_id", "=", userId)
    .where("kind", "in", kinds)
    .orderBy("id")
    .execute();
  return rows.filter((r) => toBool(r.confirmed));
}

/** Checks a code against the user's confirmed TOTP devices, then static codes. */
export async function verifyAnyCode(
  ctx: CoreContext,
  db: Db,
  devices: DeviceRow[],
  code: string,
): Promise<DeviceRow | undefined> {
  for (const d of devices.filter((x) => x.kind === "totp")) if (await verifyTotp(ctx, db, d, code)) return d;
  for (const d of devices.filter((x) => x.kind === "static"))
    if (await useStaticCode(ctx, db, d, code)) return d;
  return undefined;
}

export function deviceChallenge(device: DeviceRow) {
  return {
    device_class: device.kind,
    device_uid: String(device.id),
    challenge: {},
    last_used: toIsoOrNull(device.last_used),
  };
}
