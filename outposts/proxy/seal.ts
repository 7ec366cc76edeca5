/**
 * The access token as the core keeps it for a proxy session: AES-256-GCM under a key derived (HKDF-SHA256)
 * from the cookie value, which only the browser holds. The core's store alone cannot reveal it.
 */
import { deriveKey, seal, unseal } from "../../shared/crypto.ts";

const PURPOSE = "gatehouse/proxy-outpost/sealed-token";

export function sealToken(cookieValue: string, token: string): string {
  return seal(deriveKey(cookieValue, PURPOSE), token);
}

/** The token, or undefined when the cookie value does not open it. */
export function unsealToken(cookieValue: string, sealed: string): string | undefined {
  try {
    return unseal(deriveKey(cookieValue, PURPOSE), sealed);
  } catch {
    return undefined;
  }
}
