/**
 * Password policy: static rules (length, character classes), an offline list of common passwords (in
 * place of authentik's online HaveIBeenPwned check) and zxcvbn strength, on the prompt's password field.
 */
import { Type as t } from "@sinclair/typebox";
import type { ZxcvbnFactory } from "@zxcvbn-ts/core";
import type { PolicyKind, PolicyRequest } from "./types.ts";

const DEFAULT_SYMBOLS = "!\\\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ";
/** zxcvbn and its dictionaries are loaded on first use, so a core that never checks a password skips them. */
let zxcvbn: Promise<ZxcvbnFactory> | undefined;
const strength = () => {
  zxcvbn ??= (async () => {
    const { ZxcvbnFactory } = await import("@zxcvbn-ts/core");
    const common = await import("@zxcvbn-ts/language-common");
    return new ZxcvbnFactory({ dictionary: { ...common.dictionary }, graphs: common.adjacencyGraphs });
  })();
  return zxcvbn;
};

/** True when the whole password is one entry of the bundled common-password list. */
export async function isCommonPassword(password: string): Promise<boolean> {
  const result = (await strength()).check(password.slice(0, 256));
  return result.sequence.some(
    (m) =>
      m.pattern === "dictionary" &&
      m.dictionaryName === "passwords-common" &&
      m.i === 0 &&
      m.j === password.length - 1,
  );
}

export async function passwordScore(password: string): Promise<number> {
  return (await strength()).check(password.slice(0, 256)).score;
}

function passwordFrom(request: PolicyRequest, field: string): string | undefined {
  const prompt = request.context.prompt_data as Record<string, unknown> | undefined;
  const value = prompt?.[field] ?? request.context[field];
  return typeof value === "string" ? value : undefined;
}

export const passwordPolicy: PolicyKind = {
  model: "passwordpolicy",
  apiName: "password",
  verboseName: "Password Policy",
  component: "ak-policy-password-form",
  config: t.Object({
    password_field: t.Optional(t.String({ minLength: 1, maxLength: 100 })),
    amount_digits: t.Optional(t.Integer({ minimum: 0, maximum: 1000 })),
    amount_uppercase: t.Optional(t.Integer({ minimum: 0, maximum: 1000 })),
    amount_lowercase: t.Optional(t.Integer({ minimum: 0, maximum: 1000 })),
    amount_symbols: t.Optional(t.Integer({ minimum: 0, maximum: 1000 })),
    length_min: t.Optional(t.Integer({ minimum: 0, maximum: 4096 })),
    symbol_charset: t.Optional(t.String({ maxLength: 200 })),
    error_message: t.Optional(t.String({ maxLength: 1000 })),
    check_static_rules: t.Optional(t.Boolean()),
    check_have_i_been_pwned: t.Optional(t.Boolean()),
    check_zxcvbn: t.Optional(t.Boolean()),
    hibp_allowed_count: t.Optional(t.Integer({ minimum: 0 })),
    zxcvbn_score_threshold: t.Optional(t.Integer({ minimum: 0, maximum: 4 })),
  }),
  defaults: {
    password_field: "password",
    amount_digits: 0,
    amount_uppercase: 0,
    amount_lowercase: 0,
    amount_symbols: 0,
    length_min: 0,
    symbol_charset: DEFAULT_SYMBOLS,
    error_message: "",
    check_static_rules: true,
    check_have_i_been_pwned: true,
    check_zxcvbn: false,
    hibp_allowed_count: 0,
    zxcvbn_score_threshold: 2,
  },
  async evaluate(_ctx, c, request) {
    const password = passwordFrom(request, String(c.password_field ?? "password"));
    if (password === undefined) return { passing: false, messages: ["Password not set in context"] };
    const messages: string[] = [];
    if (c.check_static_rules) {
      const count = (re: RegExp) => (password.match(re) ?? []).length;
      const symbols = String(c.symbol_charset ?? DEFAULT_SYMBOLS);
      const ok =
        password.length >= Number(c.length_min ?? 0) &&
        count(/\d/g) >= Number(c.amount_digits ?? 0) &&
        count(/\p{Lu}/gu) >= Number(c.amount_uppercase ?? 0) &&
        count(/\p{Ll}/gu) >= Number(c.amount_lowercase ?? 0) &&
        [...password].filter((ch) => symbols.includes(ch)).length >= Number(c.amount_symbols ?? 0);
      if (!ok) messages.push(String(c.error_message || "Password does not match the password policy."));
    }
    if (c.check_have_i_been_pwned && (await isCommonPassword(password))) {
      messages.push("This password is one of the most common passwords. Choose another.");
    }
    if (c.check_zxcvbn && (await passwordScore(password)) <= Number(c.zxcvbn_score_threshold ?? 2)) {
      messages.push("This password is too easy to guess.");
    }
    return { passing: messages.length === 0, messages };
  },
};
