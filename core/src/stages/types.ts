/**
 * A stage kind: its authentik model name, its settings (TypeBox, with defaults), and a pure handler that
 * maps the current run (plan, pending user, request facts) and a response to an outcome. Stages never
 * touch the HTTP request or the cookie; the executor does.
 */
import type { TObject } from "@sinclair/typebox";
import type { Selectable } from "kysely";
import type { CoreContext } from "../context.ts";
import type { FlowsTable } from "../store/database.ts";
import type { UserRow } from "../users/serialize.ts";

export type FlowRow = Selectable<FlowsTable>;

/** What the executor keeps between requests (in the store, keyed by the flow session). */
export interface FlowPlan {
  flow: string;
  /** Flow-stage binding uuids planned for this run, in order. */
  bindings: string[];
  index: number;
  context: PlanContext;
}

export interface PlanContext {
  pending_user?: number;
  /** Set when an identification stage pretended an unknown user exists. */
  pending_user_identifier?: string;
  auth_method?: string;
  /** The authentication methods used so far (OIDC `amr` values: "pwd", "otp", "hwk"). */
  amr?: string[];
  failed_attempts?: number;
  /** The original query string the flow was started with (authentik's `query`). */
  query?: string;
  is_outpost?: boolean;
  [key: string]: unknown;
}

export interface HttpFacts {
  ip: string | null;
  userAgent: string;
  path: string;
  /** scheme://host the request came to, for links back to this server (emails). */
  origin: string;
}

export interface StageRun {
  ctx: CoreContext;
  flow: FlowRow;
  stage: { uuid: string; name: string; config: Record<string, unknown> };
  plan: FlowPlan;
  http: HttpFacts;
  /** The user of the browser session, when it is authenticated. */
  sessionUser: UserRow | undefined;
  pendingUser(): Promise<UserRow | undefined>;
  /** Session changes requested by a stage; the executor applies them to the cookie. */
  session: SessionChanges;
}

export interface SessionChanges {
  /** A fresh authenticated session id (login); the old id is discarded. */
  login?: { id: string; persistent: boolean; maxAgeSeconds: number };
  logout?: boolean;
}

export type ErrorDetail = { string: string; code: string };
export type ResponseErrors = Record<string, ErrorDetail[]>;
export type Challenge = { component: string } & Record<string, unknown>;

export type Outcome =
  | { kind: "challenge"; challenge: Challenge }
  | { kind: "next" }
  | { kind: "invalid"; challenge: Challenge }
  | { kind: "deny"; message: string };

export interface StageKind {
  model: string;
  /** /api/v3/stages/<apiName>/ */
  apiName: string;
  verboseName: string;
  component: string;
  config: TObject;
  defaults: Record<string, unknown>;
  /** Settings that may be written but are never read back (secrets). */
  writeOnly?: readonly string[];
  /** Called on GET: show a challenge, or finish without one. */
  challenge(run: StageRun): Promise<Outcome>;
  /** Called on POST with the client's response. */
  respond(run: StageRun, response: Record<string, unknown>): Promise<Outcome>;
}

export function fieldError(field: string, message: string, code = "invalid"): ResponseErrors {
  return { [field]: [{ string: message, code }] };
}

/** Notes an authentication method the flow used (OIDC `amr`), once. */
export function noteAmr(context: PlanContext, method: "pwd" | "otp" | "hwk"): void {
  const seen = context.amr ?? [];
  if (!seen.includes(method)) context.amr = [...seen, method];
}

/** The session's `amr`: the methods used, and "mfa" when more than one kind of factor was. */
export function sessionAmr(context: PlanContext): string[] {
  const used = context.amr ?? [];
  return used.length > 1 ? [...used, "mfa"] : used;
}
