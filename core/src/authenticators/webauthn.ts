/**
 * WebAuthn (passkeys, security keys) through @simplewebauthn/server: registration and assertion
 * options bound to the request's origin, verification, and the signature counter kept per device.
 */

import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import type { CoreContext, Db } from "../context.ts";
import { asJson, fromJson } from "../store/codec.ts";
import type { UserRow } from "../users/serialize.ts";
import type { DeviceRow } from "./devices.ts";

export interface WebauthnConfig {
  credential_id: string;
  public_key: string;
  counter: number;
  transports: string[];
  aaguid: string;
}

export type UserVerification = "required" | "preferred" | "discouraged";

/** Loaded on first use: most users never touch a security key. */
const webauthn = () => import("@simplewebauthn/server");

/** The relying party is the host the browser talks to (no port). */
export function rpIdOf(origin: string): string {
  return new URL(origin).hostname;
}

export async function registrationOptions(
  rpName: string,
  origin: string,
  user: UserRow,
  existing: DeviceRow[],
  userVerification: UserVerification,
) {
  const { generateRegistrationOptions } = await webauthn();
  return generateRegistrationOptions({
    rpName,
    rpID: rpIdOf(origin),
    userName: user.username,
    userDisplayName: user.name || user.username,
    userID: new TextEncoder().encode(user.uuid),
    attestationType: "none",
    excludeCredentials: existing.map((d) => ({ id: fromJson<WebauthnConfig>(d.config).credential_id })),
    authenticatorSelection: { residentKey: "preferred", userVerification },
  });
}

export async function registerDevice(
  ctx: CoreContext,
  db: Db,
  user: UserRow,
  name: string,
  response: RegistrationResponseJSON,
  expectedChallenge: string,
  origin: string,
  requireUserVerification: boolean,
): Promise<DeviceRow | undefined> {
  const { verifyRegistrationResponse } = await webauthn();
  let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verified = await verifyRegistrationResponse({
      response,
      expectedChallenge,
      expectedOrigin: origin,
      expectedRPID: rpIdOf(origin),
      requireUserVerification,
    });
  } catch {
    return undefined;
  }
  if (!verified.verified) return undefined;
  const { credential, aaguid } = verified.registrationInfo;
  const now = ctx.clock().toISOString();
  const config: WebauthnConfig = {
    credential_id: credential.id,
    public_key: Buffer.from(credential.publicKey).toString("base64url"),
    counter: credential.counter,
    transports: credential.transports ?? [],
    aaguid,
  };
  return db
    .insertInto("authenticator_devices")
    .values({
      user_id: user.id,
      kind: "webauthn",
      name,
      confirmed: true,
      secret_sealed: null,
      config: asJson(config as unknown as Record<string, unknown>),
      created: now,
      last_updated: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function authenticationOptions(
  origin: string,
  devices: DeviceRow[],
  userVerification: UserVerification,
) {
  const { generateAuthenticationOptions } = await webauthn();
  return generateAuthenticationOptions({
    rpID: rpIdOf(origin),
    allowCredentials: devices.map((d) => {
      const c = fromJson<WebauthnConfig>(d.config);
      return { id: c.credential_id, transports: c.transports };
    }),
    userVerification,
  });
}

/** Checks an assertion against the device it names; a counter that does not move forward is refused. */
export async function verifyAssertion(
  ctx: CoreContext,
  db: Db,
  devices: DeviceRow[],
  response: AuthenticationResponseJSON,
  expectedChallenge: string,
  origin: string,
  requireUserVerification: boolean,
): Promise<DeviceRow | undefined> {
  const device = devices.find(
    (d) => d.kind === "webauthn" && fromJson<WebauthnConfig>(d.config).credential_id === response.id,
  );
  if (!device) return undefined;
  const config = fromJson<WebauthnConfig>(device.config);
  const { verifyAuthenticationResponse } = await webauthn();
  try {
    const result = await verifyAuthenticationResponse({
      response,
      expectedChallenge,
      expectedOrigin: origin,
      expectedRPID: rpIdOf(origin),
      requireUserVerification,
      credential: {
        id: config.credential_id,
        publicKey: Buffer.from(config.public_key, "base64url"),
        counter: config.counter,
      },
    });
    if (!result.verified) return undefined;
    await db
      .updateTable("authenticator_devices")
      .set({
        config: asJson({ ...config, counter: result.authenticationInfo.newCounter } as unknown as Record<
          string,
          unknown
        >),
        last_used: ctx.clock().toISOString(),
      })
      .where("id", "=", device.id)
      .execute();
    return device;
  } catch {
    return undefined;
  }
}
