/**
 * <gh-flow-executor slug="…">: runs a flow against /api/v3/flows/executor/, renders each challenge and
 * posts the answers. The query string of the page is passed on as the flow's `query` (for `next`).
 */
import { css, html, LitElement, nothing } from "lit";
import { base } from "../shared/styles.ts";
import type { Challenge } from "./challenge.ts";
import { STAGES } from "./stages.ts";

export class FlowExecutor extends LitElement {
  static override properties = {
    slug: { type: String },
    challenge: { state: true },
    busy: { state: true },
    failure: { state: true },
  };
  static override styles = [
    base,
    css`
      .qr svg {
        width: 12rem;
        height: 12rem;
      }
    `,
  ];

  // Reactive properties are declared, not initialised as class fields, so Lit's accessors stay in place.
  declare slug: string;
  declare challenge: Challenge | undefined;
  declare busy: boolean;
  declare failure: string;

  constructor() {
    super();
    this.slug = "";
    this.busy = false;
    this.failure = "";
  }

  private get url(): string {
    const query = window.location.search.replace(/^\?/, "");
    return `/api/v3/flows/executor/${encodeURIComponent(this.slug)}/?query=${encodeURIComponent(query)}`;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    await this.run(() =>
      fetch(this.url, { credentials: "same-origin", headers: { accept: "application/json" } }),
    );
  }

  private submit = (response: Record<string, unknown>): void => {
    void this.run(() =>
      fetch(this.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify(response),
      }),
    );
  };

  private async run(request: () => Promise<Response>): Promise<void> {
    this.busy = true;
    this.failure = "";
    try {
      const res = await request();
      if (!res.ok)
        throw new Error(
          res.status === 404 ? "This flow does not exist." : `The server answered ${res.status}.`,
        );
      const challenge = (await res.json()) as Challenge;
      if (challenge.component === "xak-flow-redirect") {
        window.location.assign(String(challenge.to ?? "/"));
        return;
      }
      this.challenge = challenge;
      this.forgetFlowToken();
      if (challenge.flow_info?.title) document.title = challenge.flow_info.title;
    } catch (err) {
      this.failure = (err as Error).message;
    } finally {
      this.busy = false;
    }
    await this.updateComplete;
    (this.renderRoot.querySelector("[autofocus]") as HTMLElement | null)?.focus();
  }

  /** An emailed link's token works once; drop it from the address so later requests do not resend it. */
  private forgetFlowToken(): void {
    const url = new URL(window.location.href);
    if (!url.searchParams.has("flow_token")) return;
    url.searchParams.delete("flow_token");
    window.history.replaceState(null, "", url.toString());
  }

  override render() {
    const c = this.challenge;
    const render = c && STAGES[c.component];
    return html`<main>
      <h1>${c?.flow_info?.title ?? ""}</h1>
      ${this.failure ? html`<p class="error" role="alert">${this.failure}</p>` : nothing}
      ${
        c
          ? render
            ? render(c, this.submit, this.busy, () => void this.load())
            : html`<p class="error" role="alert">This step (${c.component}) cannot be shown here.</p>`
          : html`<p class="muted" aria-live="polite">Loading…</p>`
      }
    </main>`;
  }
}

customElements.define("gh-flow-executor", FlowExecutor);
