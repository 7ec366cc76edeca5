/**
 * The one error base. Every error a client may see is a GatehouseError with `expose: true`;
 * anything else leaves a process only as a generic error plus a logged event (see each edge's gate).
 */
export type FieldErrors = Record<string, string[]>;

export interface ErrorOptions {
  status: number;
  /** Unique per call site, so a log line points at one place (e.g. "API0003UserNotFound"). */
  code: string;
  expose?: boolean;
  fields?: FieldErrors;
  cause?: unknown;
}

export class GatehouseError extends Error {
  readonly status: number;
  readonly code: string;
  readonly expose: boolean;
  readonly fields: FieldErrors | undefined;

  constructor(message: string, options: ErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "GatehouseError";
    this.status = options.status;
    this.code = options.code;
    this.expose = options.expose ?? options.status < 500;
    this.fields = options.fields;
  }
}

/** 400 with a field → messages body, as authentik's ValidationError. */
export function validationError(code: string, fields: FieldErrors): GatehouseError {
  const first = Object.entries(fields)[0];
  const summary = first ? `${first[0]}: ${first[1].join(" ")}` : "invalid input";
  return new GatehouseError(summary, { status: 400, code, fields });
}

export function notFound(code: string, what = "Not found."): GatehouseError {
  return new GatehouseError(what, { status: 404, code });
}

export function forbidden(
  code: string,
  detail = "You do not have permission to perform this action.",
): GatehouseError {
  return new GatehouseError(detail, { status: 403, code });
}

export function isGatehouseError(err: unknown): err is GatehouseError {
  return err instanceof GatehouseError;
}
