/**
 * One render function per challenge component. Each returns a form whose submit hands the response
 * object to `submit`; labels, autocomplete hints and error text make them usable by keyboard and
 * screen reader.
 */

import { startAuthentication, startRegistration } from "@simplewebauthn/browser";
import { html, nothing, type TemplateResult } from "lit";
import { ref } from "lit/directives/ref.js";
import { unsafeSVG } from "lit/directives/unsafe-svg.js";
import qrcode from "qrcode-generator";
import { type Challenge, errorsFor } from "./challenge.ts";
import { iframeLogout, sessionEnd } from "./logout.ts";

export type Submit = (response: Record<string, unknown>) => void;

const formValues = (event: Event): Record<string, string> => {
  event.preventDefault();
  const data = new FormData(event.target as HTMLFormElement);
  return Object.fromEntries([...data.entries()].map(([k, v]) => [k, String(v)]));
};

const errors = (messages: string[], id: string) =>
  messages.length ? html`<p class="error" id=${id} role="alert">${messages.join(" ")}</p>` : nothing;

const pendingUser = (c: Challenge) =>
  c.pending_user
    ? html`<div class="user">
        ${c.pending_user_avatar ? html`<img alt="" src=${String(c.pending_user_avatar)} />` : nothing}
        <span>${String(c.pending_user)}</span>
      </div>`
    : nothing;

function identification(c: Challenge, submit: Submit, busy: boolean): TemplateResult {
  const fields = (c.user_fields as string[] | null) ?? ["username"];
  const label = fields.map((f) => (f === "email" ? "Email" : f === "username" ? "Username" : f)).join(" or ");
  const fieldErrors = [...errorsFor(c, "uid_field"), ...errorsFor(c, "non_field_errors")];
  return html`<form @submit=${(e: Event) => submit({ component: c.component, ...formValues(e) })}>
    <label for="uid">${label}</label>
    <input id="uid" name="uid_field" type="text" autocomplete="username" autocapitalize="none" spellcheck="false"
      required autofocus aria-describedby="uid-error" aria-invalid=${fieldErrors.length > 0} />
    ${
      c.password_fields
        ? html`<label for="password">Password</label>
            <input id="password" name="password" type="password" autocomplete="current-password" required />`
        : nothing
    }
    ${errors(fieldErrors, "uid-error")}
    <button type="submit" ?disabled=${busy}>${String(c.primary_action ?? "Log in")}</button>
  </form>
  ${c.recovery_url ? html`<p><a href=${String(c.recovery_url)}>Forgot your password?</a></p>` : nothing}
  ${c.enroll_url ? html`<p><a href=${String(c.enroll_url)}>Create an account</a></p>` : nothing}`;
}

function password(c: Challenge, submit: Submit, busy: boolean): TemplateResult {
  const fieldErrors = errorsFor(c, "password");
  return html`${pendingUser(c)}
    <form @submit=${(e: Event) => submit({ component: c.component, ...formValues(e) })}>
      <input type="text" name="username" autocomplete="username" value=${String(c.pending_user ?? "")} hidden />
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" required autofocus
        aria-describedby="password-error" aria-invalid=${fieldErrors.length > 0} />
      ${errors(fieldErrors, "password-error")}
      <button type="submit" ?disabled=${busy}>Continue</button>
    </form>`;
}

function codeForm(c: Challenge, submit: Submit, busy: boolean, hint: string): TemplateResult {
  const fieldErrors = [...errorsFor(c, "code"), ...errorsFor(c, "non_field_errors")];
  return html`<form @submit=${(e: Event) => submit({ component: c.component, ...formValues(e) })}>
    <label for="code">${hint}</label>
    <input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required autofocus
      aria-describedby="code-error" aria-invalid=${fieldErrors.length > 0} />
    ${errors(fieldErrors, "code-error")}
    <button type="submit" ?disabled=${busy}>Continue</button>
  </form>`;
}

function authenticatorValidate(c: Challenge, submit: Submit, busy: boolean): TemplateResult {
  const devices =
    (c.device_challenges as { device_class: string; challenge: Record<string, unknown> }[]) ?? [];
  const classes = devices.map((d) => d.device_class);
  const webauthn = devices.find((d) => d.device_class === "webauthn");
  const codes = classes.includes("totp") || classes.includes("static");
  const hint =
    classes.includes("static") && !classes.includes("totp") ? "Recovery code" : "Authentication code";
  const useKey = async () => {
    try {
      // biome-ignore lint/suspicious/noExplicitAny: the options come from the server as JSON
      const assertion = await startAuthentication({ optionsJSON: webauthn?.challenge as any });
      submit({ component: c.component, webauthn: assertion });
    } catch (err) {
      submit({ component: c.component, webauthn: { error: String((err as Error).message) } });
    }
  };
  return html`${pendingUser(c)}
    ${
      webauthn
        ? html`<button type="button" ?disabled=${busy} @click=${useKey}>Use a security key or passkey</button>
            ${errors(errorsFor(c, "code"), "webauthn-error")}`
        : nothing
    }
    ${
      codes
        ? html`<p class="muted">Enter the code from your authenticator app${classes.includes("static") ? ", or a recovery code" : ""}.</p>
            ${codeForm(c, submit, busy, hint)}`
        : nothing
    }`;
}

function authenticatorWebauthn(c: Challenge, submit: Submit, busy: boolean): TemplateResult {
  const register = async () => {
    try {
      // biome-ignore lint/suspicious/noExplicitAny: the options come from the server as JSON
      const response = await startRegistration({ optionsJSON: c.registration as any });
      submit({ component: c.component, response });
    } catch (err) {
      submit({ component: c.component, response: { error: String((err as Error).message) } });
    }
  };
  return html`${pendingUser(c)}
    <p>Register a security key or passkey. Your browser will ask you to confirm.</p>
    ${errors(errorsFor(c, "response"), "webauthn-error")}
    <button type="button" ?disabled=${busy} @click=${register}>Register</button>`;
}

function authenticatorTotp(c: Challenge, submit: Submit, busy: boolean): TemplateResult {
  const url = String(c.config_url ?? "");
  const qr = qrcode(0, "M");
  qr.addData(url);
  qr.make();
  const secret = new URL(url).searchParams.get("secret") ?? "";
  return html`${pendingUser(c)}
    <p>Scan this code with your authenticator app, then enter the code it shows.</p>
    <div class="qr" role="img" aria-label="QR code for your authenticator app">${unsafeSVG(qr.createSvgTag({ cellSize: 4, margin: 2, scalable: true }))}</div>
    <p class="muted">Or enter this key by hand: <code data-testid="totp-secret">${secret}</code></p>
    ${codeForm(c, submit, busy, "Code")}`;
}

function authenticatorStatic(c: Challenge, submit: Submit, busy: boolean): TemplateResult {
  return html`${pendingUser(c)}
    <p>Keep these recovery codes somewhere safe. Each works once.</p>
    <ul data-testid="static-codes">${((c.codes as string[]) ?? []).map((code) => html`<li><code>${code}</code></li>`)}</ul>
    <button type="button" ?disabled=${busy} @click=${() => submit({ component: c.component })}>I have saved them</button>`;
}

function userLogin(c: Challenge, submit: Submit, busy: boolean): TemplateResult {
  return html`${pendingUser(c)}
    <p>Stay signed in on this device?</p>
    <button type="button" ?disabled=${busy} @click=${() => submit({ component: c.component, remember_me: true })}>Yes</button>
    <button type="button" class="secondary" ?disabled=${busy} @click=${() => submit({ component: c.component, remember_me: false })}>No</button>`;
}

function dummy(c: Challenge, submit: Submit, busy: boolean): TemplateResult {
  return html`<p>${String(c.name ?? "")}</p>
    <button type="button" ?disabled=${busy} @click=${() => submit({ component: c.component })}>Continue</button>`;
}

function accessDenied(c: Challenge, _submit: Submit, _busy: boolean, restart: () => void): TemplateResult {
  return html`${pendingUser(c)}
    <p class="error" role="alert">${String(c.error_message || "Access denied")}</p>
    <button type="button" class="secondary" @click=${restart}>Start again</button>`;
}

/** authentik's device code finish: the device was signed in; nothing more happens in this window. */
function deviceCodeFinish(): TemplateResult {
  return html`<p role="status">You've successfully authenticated your device.</p>
    <p class="muted">You may close this window and return to your device.</p>`;
}

function flowError(c: Challenge, _submit: Submit, _busy: boolean, restart: () => void): TemplateResult {
  return html`<p class="error" role="alert">${String(c.error ?? "Something went wrong.")}</p>
    <p class="muted">Reference: <code>${String(c.request_id ?? "")}</code></p>
    <button type="button" class="secondary" @click=${restart}>Start again</button>`;
}

interface PromptField {
  field_key: string;
  label: string;
  type: string;
  required: boolean;
  placeholder: string;
  initial_value: string;
  sub_text: string;
}

const INPUT_TYPES: Record<string, string> = {
  username: "text",
  email: "email",
  password: "password",
  number: "number",
  date: "date",
  "date-time": "datetime-local",
  hidden: "hidden",
};

const AUTOCOMPLETE: Record<string, string> = {
  username: "username",
  email: "email",
  password: "new-password",
};

function promptField(f: PromptField, c: Challenge): TemplateResult {
  const id = `field-${f.field_key}`;
  const fieldErrors = errorsFor(c, f.field_key);
  if (f.type === "separator") return html`<hr />`;
  if (f.type === "static") return html`<p>${f.initial_value}</p>`;
  if (f.type === "checkbox") {
    return html`<label><input type="checkbox" name=${f.field_key} ?checked=${f.initial_value === "true"} /> ${f.label}</label>
      ${errors(fieldErrors, `${id}-error`)}`;
  }
  const readOnly = f.type.endsWith("_read_only");
  const input = f.type.startsWith("text_area")
    ? html`<textarea id=${id} name=${f.field_key} ?required=${f.required} ?readonly=${readOnly} placeholder=${f.placeholder}
        aria-describedby="${id}-error">${f.initial_value}</textarea>`
    : html`<input id=${id} name=${f.field_key} type=${INPUT_TYPES[f.type] ?? "text"} .value=${f.initial_value}
        ?required=${f.required} ?readonly=${readOnly} placeholder=${f.placeholder}
        autocomplete=${AUTOCOMPLETE[f.type] ?? (f.field_key.endsWith("_repeat") ? "new-password" : "off")}
        aria-describedby="${id}-error" aria-invalid=${fieldErrors.length > 0} />`;
  if (f.type === "hidden") return input;
  return html`<label for=${id}>${f.label}</label>${input}
    ${f.sub_text ? html`<p class="muted">${f.sub_text}</p>` : nothing}
    ${errors(fieldErrors, `${id}-error`)}`;
}

function prompt(c: Challenge, submit: Submit, busy: boolean): TemplateResult {
  const fields = (c.fields as PromptField[]) ?? [];
  return html`<form @submit=${(e: Event) => submit({ component: c.component, ...formValues(e) })}>
    ${fields.map((f) => promptField(f, c))}
    ${errors(errorsFor(c, "non_field_errors"), "prompt-error")}
    <button type="submit" ?disabled=${busy}>Continue</button>
  </form>`;
}

function email(c: Challenge, submit: Submit, busy: boolean): TemplateResult {
  return html`<p role="status">Check your email for a link to continue. It works once and expires soon.</p>
    <button type="button" class="secondary" ?disabled=${busy} @click=${() => submit({ component: c.component })}>Send the email again</button>`;
}

interface Permission {
  id: string;
  name: string;
}

function permissionList(label: string, list: Permission[], testId: string) {
  if (!list.length) return nothing;
  return html`<p>${label}</p>
    <ul data-testid=${testId}>${list.map((p) => html`<li data-permission-code=${p.id}>${p.name || p.id}</li>`)}</ul>`;
}

/** authentik's consent form: who is signing in where, what the application gets, and one button. */
function consent(c: Challenge, submit: Submit, busy: boolean): TemplateResult {
  const asked = (c.permissions as Permission[] | undefined) ?? [];
  const added = (c.additional_permissions as Permission[] | undefined) ?? [];
  return html`${pendingUser(c)}
    <p data-testid="consent-header">${String(c.header_text ?? "")}</p>
    ${
      added.length
        ? html`${permissionList("The application already has access to:", asked, "permissions")}
            ${permissionList("The application asks for these new permissions:", added, "new-permissions")}`
        : permissionList("The application asks for:", asked, "permissions")
    }
    ${errors(errorsFor(c, "token"), "consent-error")}
    <button type="button" ?disabled=${busy} @click=${() => submit({ component: c.component, token: c.token })}>Continue</button>`;
}

/** Forms already posted, so a re-render never posts one twice. */
const posted = new WeakSet<Element>();

/**
 * authentik's autosubmit stage (OAuth 2.0 Form Post Response Mode): a form posting `attrs` to `url`,
 * sent as soon as it is in the page, with a Continue button should that not happen.
 */
function autosubmit(c: Challenge): TemplateResult {
  const url = String(c.url ?? "");
  const attrs = (c.attrs as Record<string, string> | undefined) ?? {};
  if (!/^https?:\/\//i.test(url)) return html`<p class="error" role="alert">This step has nowhere to go.</p>`;
  const send = (el: Element | undefined) => {
    if (!el || posted.has(el)) return;
    posted.add(el);
    // After this render is in the document: a detached form does not navigate.
    queueMicrotask(() => (el as HTMLFormElement).submit());
  };
  return html`<form method="post" action=${url} ${ref(send)}>
    ${Object.entries(attrs).map(([name, value]) => html`<input type="hidden" name=${name} value=${String(value)} />`)}
    <p class="muted" role="status">${String(c.title || "Redirecting…")}</p>
    <button type="submit">Continue</button>
  </form>`;
}

type Renderer = (c: Challenge, submit: Submit, busy: boolean, restart: () => void) => TemplateResult;

export const STAGES: Record<string, Renderer> = {
  "ak-stage-identification": identification,
  "ak-stage-password": password,
  "ak-stage-authenticator-validate": authenticatorValidate,
  "ak-stage-authenticator-totp": authenticatorTotp,
  "ak-stage-authenticator-static": authenticatorStatic,
  "ak-stage-authenticator-webauthn": authenticatorWebauthn,
  "ak-stage-user-login": userLogin,
  "ak-stage-dummy": dummy,
  "ak-stage-prompt": prompt,
  "ak-stage-email": email,
  "ak-stage-consent": consent,
  "ak-stage-autosubmit": autosubmit,
  "ak-stage-access-denied": accessDenied,
  "ak-stage-flow-error": flowError,
  "ak-stage-session-end": sessionEnd,
  "ak-provider-iframe-logout": iframeLogout,
  "ak-provider-oauth2-device-code-finish": deviceCodeFinish,
};
