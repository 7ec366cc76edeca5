/**
 * The end of an application logout: authentik's session-end page (what to do next) and its iframe
 * logout, which loads each front-channel client's logout URL in a hidden iframe and then goes back to
 * the client that asked for the logout, if one did.
 */
import { html, nothing, type TemplateResult } from "lit";
import { ref } from "lit/directives/ref.js";
import type { Challenge } from "./challenge.ts";

/** How long the iframes get before the page moves on without them. */
const IFRAME_WAIT_MS = 5000;

const isHttp = (url: string) => /^https?:\/\//i.test(url);

export function sessionEnd(c: Challenge): TemplateResult {
  const app = String(c.application_name ?? "the application");
  const launch = String(c.application_launch_url ?? "");
  const logout = String(c.invalidation_flow_url ?? "");
  return html`<p role="status" data-testid="session-end">You've logged out of ${app}.</p>
    <p>You can go back to the overview to open another application, or log out of ${String(c.brand_name ?? "")} too.</p>
    <p><a href="/">Go back to overview</a></p>
    ${logout.startsWith("/") ? html`<p><a href=${logout}>Log out of ${String(c.brand_name ?? "")}</a></p>` : nothing}
    ${launch && (isHttp(launch) || launch.startsWith("/")) ? html`<p><a href=${launch}>Log back into ${app}</a></p>` : nothing}`;
}

/** Challenges whose iframes are already being waited for, so a re-render starts nothing twice. */
const waiting = new WeakMap<Challenge, { left: number; done: () => void }>();

export function iframeLogout(c: Challenge): TemplateResult {
  const urls = ((c.logout_urls as { url?: unknown; provider_name?: unknown }[] | undefined) ?? [])
    .map((u) => ({ url: String(u.url ?? ""), name: String(u.provider_name ?? "") }))
    .filter((u) => isHttp(u.url));
  const redirect = String(c.redirect_to ?? "");
  const start = (el: Element | undefined) => {
    if (!el || waiting.has(c)) return;
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      if (isHttp(redirect)) window.location.assign(redirect);
    };
    waiting.set(c, { left: urls.length, done });
    if (urls.length === 0) queueMicrotask(done);
    setTimeout(done, IFRAME_WAIT_MS);
  };
  const loaded = () => {
    const state = waiting.get(c);
    if (state && --state.left <= 0) state.done();
  };
  return html`<div ${ref(start)}>
    ${
      isHttp(redirect)
        ? html`<p class="muted" role="status">Signing you out of your applications…</p>`
        : sessionEnd(c)
    }
    ${urls.map(
      (u) =>
        html`<iframe hidden title=${`Logging out of ${u.name}`} src=${u.url} @load=${loaded} @error=${loaded}></iframe>`,
    )}
  </div>`;
}
