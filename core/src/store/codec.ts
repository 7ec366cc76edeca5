/** One read shape for both back ends (see database.ts for the column conventions). */

export function toIso(value: string | Date): string {
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}

/** Whether a stored time (an expiry, say) is at or before `now`. */
export function isPast(value: string | Date, now: Date): boolean {
  return new Date(toIso(value)).getTime() <= now.getTime();
}

export function toIsoOrNull(value: string | Date | null): string | null {
  return value === null ? null : toIso(value);
}

export function toBool(value: boolean | number): boolean {
  return value === true || value === 1;
}

/** jsonb arrives parsed from postgres.js; SQLite hands back the text. */
export function fromJson<T = Record<string, unknown>>(value: unknown): T {
  return (typeof value === "string" ? JSON.parse(value) : value) as T;
}

/**
 * A value for a JSON column. Always an object: postgres.js serializes it for jsonb (a pre-serialized
 * string would be stored as a JSON string), and the SQLite adapter serializes it to text.
 */
export function asJson(value: Record<string, unknown> | undefined | null): Record<string, unknown> {
  return value ?? {};
}
