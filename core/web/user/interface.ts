/**
 * <gh-user-interface>: the signed-in user's page — account, MFA devices, app passwords and sessions
 * (with "sign out everywhere"), and the library of applications the user may open, searchable.
 */
import { html, LitElement, nothing } from "lit";
import { getJson, sendJson } from "../shared/http.ts";
import { base } from "../shared/styles.ts";

interface Me {
  user: { pk: number; username: string; name: string; email: string; is_superuser: boolean };
}
interface Device {
  pk: string;
  name: string;
  type: string;
  last_used: string | null;
}
interface Token {
  identifier: string;
  description: string;
  expires: string | null;
}
interface Session {
  uuid: string;
  current: boolean;
  last_ip: string;
  last_used: string;
  user_agent: { user_agent: { family: string }; os: { family: string } };
}
interface App {
  name: string;
  slug: string;
  launch_url: string | null;
  meta_description: string;
  meta_publisher: string;
  meta_icon_url: string | null;
  group: string;
  open_in_new_tab: boolean;
}
interface Brand {
  branding_title: string;
  flow_authentication: string;
  flow_invalidation: string;
}

export class UserInterface extends LitElement {
  static override properties = {
    me: { state: true },
    apps: { state: true },
    appFilter: { state: true },
    devices: { state: true },
    tokens: { state: true },
    sessions: { state: true },
    newKey: { state: true },
    failure: { state: true },
  };
  static override styles = [base];

  // Reactive properties are declared, not initialised as class fields, so Lit's accessors stay in place.
  declare me: Me | undefined;
  declare apps: App[];
  declare appFilter: string;
  declare devices: Device[];
  declare tokens: Token[];
  declare sessions: Session[];
  declare newKey: string;
  declare failure: string;
  brand: Brand | undefined;

  constructor() {
    super();
    this.apps = [];
    this.devices = [];
    this.tokens = [];
    this.sessions = [];
    this.newKey = "";
    this.failure = "";
  }

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    this.brand = await getJson<Brand>("/api/v3/core/brands/current/");
    try {
      this.me = await getJson<Me>("/api/v3/core/users/me/");
    } catch {
      const flow = this.brand.flow_authentication || "default-authentication-flow";
      window.location.assign(`/if/flow/${flow}/?next=${encodeURIComponent("/if/user/")}`);
      return;
    }
    await this.refresh();
  }

  /** The applications matching the search box, by name, description, publisher or group. */
  private shownApps(): App[] {
    const needle = (this.appFilter ?? "").trim().toLowerCase();
    if (!needle) return this.apps;
    return this.apps.filter((a) =>
      [a.name, a.meta_description, a.meta_publisher, a.group].some((f) => f?.toLowerCase().includes(needle)),
    );
  }

  private async refresh(): Promise<void> {
    try {
      this.apps = (await getJson<{ results: App[] }>("/api/v3/core/applications/?page_size=1000")).results;
      this.devices = await getJson<Device[]>("/api/v3/authenticators/all/");
      this.tokens = (await getJson<{ results: Token[] }>("/api/v3/core/tokens/?intent=app_password")).results;
      this.sessions = (await getJson<{ results: Session[] }>("/api/v3/core/authenticated_sessions/")).results;
    } catch (err) {
      this.failure = (err as Error).message;
    }
  }

  private async act(fn: () => Promise<unknown>): Promise<void> {
    this.failure = "";
    try {
      await fn();
      await this.refresh();
    } catch (err) {
      this.failure = (err as Error).message;
    }
  }

  private removeDevice(d: Device) {
    const kind = d.type.endsWith("totpdevice")
      ? "totp"
      : d.type.endsWith("webauthndevice")
        ? "webauthn"
        : "static";
    return this.act(() => sendJson("DELETE", `/api/v3/authenticators/${kind}/${d.pk}/`));
  }

  private createAppPassword(event: Event) {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const description = String(new FormData(form).get("description") ?? "");
    const identifier = `app-password-${this.me?.user.username.replace(/[^-a-zA-Z0-9_]/g, "-")}-${Date.now()}`;
    return this.act(async () => {
      const token = await sendJson<{ key: string }>("POST", "/api/v3/core/tokens/", {
        identifier,
        intent: "app_password",
        description,
        expiring: false,
      });
      this.newKey = token.key;
      form.reset();
    });
  }

  private signOutEverywhere() {
    return this.act(async () => {
      await sendJson("DELETE", "/api/v3/core/authenticated_sessions/bulk_delete/");
      window.location.assign("/");
    });
  }

  override render() {
    const me = this.me;
    if (!me) return html`<p class="muted" aria-live="polite">Loading…</p>`;
    const logout = `/if/flow/${this.brand?.flow_invalidation || "default-invalidation-flow"}/`;
    return html`<main>
      <h1>${me.user.name || me.user.username}</h1>
      <p class="muted">Signed in as <strong data-testid="username">${me.user.username}</strong>${me.user.email ? ` (${me.user.email})` : ""}.
        <a href=${logout}>Sign out</a></p>
      ${this.failure ? html`<p class="error" role="alert">${this.failure}</p>` : nothing}

      <section aria-labelledby="apps-heading"><h2 id="apps-heading">Applications</h2>
        ${this.apps.length === 0 ? html`<p class="muted">No applications yet.</p>` : nothing}
        ${
          this.apps.length > 5
            ? html`<p><input type="search" aria-label="Search applications" placeholder="Search applications"
                data-testid="app-search" .value=${this.appFilter ?? ""}
                @input=${(e: Event) => {
                  this.appFilter = (e.target as HTMLInputElement).value;
                }}></p>`
            : nothing
        }
        <ul data-testid="applications">${this.shownApps().map(
          (a) =>
            html`<li>${a.meta_icon_url ? html`<img src=${a.meta_icon_url} alt="" width="20" height="20"> ` : nothing}${
              a.launch_url
                ? html`<a href=${a.launch_url} target=${a.open_in_new_tab ? "_blank" : "_self"} rel="noopener">${a.name}</a>`
                : a.name
            }${a.group ? html` <span class="muted">[${a.group}]</span>` : nothing}${
              a.meta_description ? html` <span class="muted">— ${a.meta_description}</span>` : nothing
            }</li>`,
        )}</ul>
      </section>

      <section aria-labelledby="mfa"><h2 id="mfa">Two-factor authentication</h2>
        ${this.devices.length === 0 ? html`<p class="muted">No devices yet.</p>` : nothing}
        <ul>${this.devices.map(
          (d) =>
            html`<li>${d.name} <button type="button" class="secondary" @click=${() => this.removeDevice(d)}>Remove</button></li>`,
        )}</ul>
        <p><a href="/if/flow/default-authenticator-totp-setup/?next=/if/user/">Add an authenticator app</a> ·
          <a href="/if/flow/default-authenticator-webauthn-setup/?next=/if/user/">Add a security key or passkey</a> ·
          <a href="/if/flow/default-authenticator-static-setup/?next=/if/user/">Make recovery codes</a></p>
      </section>

      <section aria-labelledby="apps"><h2 id="apps">App passwords</h2>
        <p class="muted">For LDAP, RADIUS and other clients that cannot do single sign-on.</p>
        <ul>${this.tokens.map(
          (t) => html`<li>${t.description || t.identifier}
            <button type="button" class="secondary" @click=${() => this.act(() => sendJson("DELETE", `/api/v3/core/tokens/${t.identifier}/`))}>Delete</button></li>`,
        )}</ul>
        ${this.newKey ? html`<p role="status">New app password (shown once): <code data-testid="new-key">${this.newKey}</code></p>` : nothing}
        <form @submit=${(e: Event) => this.createAppPassword(e)}>
          <label for="description">Name for a new app password</label>
          <input id="description" name="description" type="text" required />
          <button type="submit">Create app password</button>
        </form>
      </section>

      <section aria-labelledby="sessions"><h2 id="sessions">Sessions</h2>
        <ul>${this.sessions.map(
          (s) =>
            html`<li>${s.user_agent.user_agent.family} on ${s.user_agent.os.family}, ${s.last_ip}${s.current ? " (this session)" : ""}</li>`,
        )}</ul>
        <button type="button" class="secondary" @click=${() => this.signOutEverywhere()}>Sign out everywhere</button>
      </section>
    </main>`;
  }
}

customElements.define("gh-user-interface", UserInterface);
