/** What a policy sees and what it answers. */
import type { TObject } from "@sinclair/typebox";
import type { CoreContext } from "../context.ts";
import type { UserRow } from "../users/serialize.ts";

export interface PolicyRequest {
  user: UserRow | undefined;
  http: { ip: string | null; userAgent: string; path: string };
  /** The flow plan's context (pending user, prompt data, application, …). */
  context: Record<string, unknown>;
}

export interface PolicyResult {
  passing: boolean;
  messages: string[];
}

export interface PolicyKind {
  /** authentik's model name, e.g. "dummypolicy"; the API path is /policies/<apiName>/. */
  model: string;
  apiName: string;
  verboseName: string;
  component: string;
  config: TObject;
  defaults: Record<string, unknown>;
  /** Rejects settings that parse but cannot work (e.g. an expression that does not compile). */
  validate?(config: Record<string, unknown>): void | Promise<void>;
  evaluate(ctx: CoreContext, config: Record<string, unknown>, request: PolicyRequest): Promise<PolicyResult>;
}
