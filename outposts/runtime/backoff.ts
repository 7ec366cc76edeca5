/** Capped exponential backoff with jitter: 1 s, 2 s, 4 s … up to 5 minutes, each between half and all of it. */
export const BACKOFF_START_MS = 1000;
export const BACKOFF_CAP_MS = 5 * 60_000;

export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_START_MS * 2 ** Math.max(0, attempt));
  return Math.round(ceiling * (0.5 + random() / 2));
}
