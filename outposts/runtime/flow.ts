/**
 * The outpost-side flow executor (shared by LDAP and RADIUS): runs a bind/login flow for an end user
 * over /api/v3/flows/executor/ with the outpost's token and the user's address, answering the stages an
 * outpost can answer (identification with the password, password, authenticator code, user login).
 */
import { VERSION } from "../../shared/version.ts";

export interface FlowCredentials {
  username: string;
  password: string;
  /** An MFA code (from `password;code` when the provider allows it). */
  code?: string;
}

export type FlowOutcome =
  | { ok: true; cookie: string }
  | { ok: false; reason: "denied" | "invalid" | "error"; message: string };

export interface FlowClientOptions {
  host: string;
  token: string;
  /** e.g. "goauthentik.io/outpost/ldap=true" */
  query: string;
  remoteIp: string;
  timeoutMs?: number;
}

const MAX_STEPS = 10;

/** Splits `password;code` at the last semicolon (authentik's MFA-in-password convention). */
export function splitMfa(secret: string): { password: string; code?: string } {
  const at = secret.lastIndexOf(";");
  if (at <= 0 || at === secret.length - 1) return { password: secret };
  return { password: secret.slice(0, at), code: secret.slice(at + 1) };
}

export async function runFlow(
  slug: string,
  credentials: FlowCredentials,
  o: FlowClientOptions,
): Promise<FlowOutcome> {
  const url = `${o.host.replace(/\/+$/, "")}/api/v3/flows/executor/${encodeURIComponent(slug)}/?query=${encodeURIComponent(o.query)}`;
  let cookie = "";
  const call = async (body?: Record<string, unknown>): Promise<Record<string, unknown>> => {
    for (let hops = 0; hops < 3; hops++) {
      const res = await fetch(url, {
        method: body && hops === 0 ? "POST" : "GET",
        redirect: "manual",
        signal: AbortSignal.timeout(o.timeoutMs ?? 15_000),
        headers: {
          "x-authentik-outpost-token": o.token,
          "x-authentik-remote-ip": o.remoteIp,
          "user-agent": `goauthentik.io/outpost/${VERSION}`,
          ...(cookie && { cookie }),
          ...(body && hops === 0 && { "content-type": "application/json" }),
        },
        ...(body && hops === 0 && { body: JSON.stringify(body) }),
      });
      const set = res.headers.get("set-cookie");
      const m = set && /authentik_session=[^;]*/.exec(set);
      if (m) cookie = m[0];
      if (res.status === 302) continue;
      if (!res.ok) throw new Error(`flow executor answered ${res.status}`);
      return (await res.json()) as Record<string, unknown>;
    }
    throw new Error("too many redirects from the flow executor");
  };
  try {
    let challenge = await call();
    let codeSent = false;
    for (let step = 0; step < MAX_STEPS; step++) {
      const errors = challenge.response_errors as Record<string, { string: string }[]> | undefined;
      const firstError = errors && Object.values(errors)[0]?.[0]?.string;
      switch (challenge.component) {
        case "xak-flow-redirect":
          return { ok: true, cookie };
        case "ak-stage-access-denied":
          return { ok: false, reason: "denied", message: String(challenge.error_message ?? "access denied") };
        case "ak-stage-flow-error":
          return { ok: false, reason: "error", message: "the flow failed" };
        case "ak-stage-identification":
          if (firstError) return { ok: false, reason: "invalid", message: firstError };
          challenge = await call({
            component: challenge.component,
            uid_field: credentials.username,
            password: credentials.password,
          });
          break;
        case "ak-stage-password":
          if (firstError) return { ok: false, reason: "invalid", message: firstError };
          challenge = await call({ component: challenge.component, password: credentials.password });
          break;
        case "ak-stage-authenticator-validate":
          if (firstError || codeSent || !credentials.code)
            return { ok: false, reason: "invalid", message: firstError ?? "a code is required" };
          codeSent = true;
          challenge = await call({ component: challenge.component, code: credentials.code });
          break;
        case "ak-stage-user-login":
          challenge = await call({ component: challenge.component, remember_me: true });
          break;
        default:
          return {
            ok: false,
            reason: "error",
            message: `the flow asks for ${String(challenge.component)}, which an outpost cannot answer`,
          };
      }
    }
    return { ok: false, reason: "error", message: "the flow did not finish" };
  } catch (err) {
    return { ok: false, reason: "error", message: (err as Error).message };
  }
}
