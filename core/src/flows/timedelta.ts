/** authentik's duration strings, e.g. "hours=1;minutes=30", "days=30", "seconds=0". */
const UNITS: Record<string, number> = {
  weeks: 604_800,
  days: 86_400,
  hours: 3_600,
  minutes: 60,
  seconds: 1,
  milliseconds: 0.001,
  microseconds: 0.000001,
};

/** Seconds in a duration string; undefined when it does not parse. */
export function parseTimedelta(value: string): number | undefined {
  let total = 0;
  for (const part of value
    .split(";")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^([a-z]+)=(\d+(?:\.\d+)?)$/.exec(part);
    const unit = m ? UNITS[m[1] as string] : undefined;
    if (!m || unit === undefined) return undefined;
    total += Number(m[2]) * unit;
  }
  return total;
}

export function isTimedelta(value: string): boolean {
  return parseTimedelta(value) !== undefined;
}
