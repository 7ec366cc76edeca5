/** String formats used by the request schemas. TypeBox checks none by default, so they are registered here. */
import { FormatRegistry } from "@sinclair/typebox";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Deliberately plain: one @, no spaces, a dot in the domain part. Mail delivery is the real test.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * Set unconditionally: Elysia registers stricter or looser formats of the same names when it loads
 * (its email refuses "", which authentik allows; its date-time takes "2030-01-01"), and whichever
 * module loaded first used to win.
 */
export function registerFormats(): void {
  FormatRegistry.Set("uuid", (v) => UUID.test(v));
  FormatRegistry.Set("email", (v) => v === "" || (v.length <= 254 && EMAIL.test(v)));
  FormatRegistry.Set(
    "date-time",
    (v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(v) && !Number.isNaN(Date.parse(v)),
  );
}

export function isUuid(value: string): boolean {
  return UUID.test(value);
}
