/** The executor's challenge envelope, as the core sends it. */
export interface ErrorDetail {
  string: string;
  code: string;
}

export interface Challenge {
  component: string;
  flow_info?: { title?: string; background?: string; cancel_url?: string; layout?: string };
  response_errors?: Record<string, ErrorDetail[]>;
  [key: string]: unknown;
}

export function errorsFor(challenge: Challenge, field: string): string[] {
  return (challenge.response_errors?.[field] ?? []).map((e) => e.string);
}
