/**
 * Drives the flow executor the way authentik's outposts do: a cookie jar, GET the challenge, POST the
 * answer, follow the 302 back with GET. Requests go to an in-process app (`handle`).
 */
export type Handle = (request: Request) => Promise<Response>;

export interface FlowClientOptions {
  headers?: Record<string, string>;
}

export class FlowClient {
  cookie: string | undefined;

  constructor(
    private readonly handle: Handle,
    private readonly options: FlowClientOptions = {},
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      ...this.options.headers,
      ...(this.cookie && { cookie: `authentik_session=${this.cookie}` }),
      ...extra,
    };
  }

  private keepCookie(res: Response): void {
    const set = res.headers.get("set-cookie");
    const m = set && /authentik_session=([^;]*)/.exec(set);
    if (m) this.cookie = m[1];
  }

  url(slug: string, query = ""): string {
    return `http://localhost/api/v3/flows/executor/${slug}/?query=${encodeURIComponent(query)}`;
  }

  // biome-ignore lint/suspicious/noExplicitAny: challenges are arbitrary JSON
  async get(slug: string, query = ""): Promise<any> {
    const res = await this.handle(new Request(this.url(slug, query), { headers: this.headers() }));
    this.keepCookie(res);
    if (res.status !== 200) throw new Error(`GET executor answered ${res.status}: ${await res.text()}`);
    return res.json();
  }

  /** POSTs a response; follows a 302 with a GET like the outposts do. Returns the next challenge. */
  // biome-ignore lint/suspicious/noExplicitAny: challenges are arbitrary JSON
  async post(slug: string, body: Record<string, unknown>, query = ""): Promise<any> {
    const res = await this.handle(
      new Request(this.url(slug, query), {
        method: "POST",
        headers: this.headers({ "content-type": "application/json" }),
        body: JSON.stringify(body),
      }),
    );
    this.keepCookie(res);
    if (res.status === 302) return this.get(slug, query);
    if (res.status !== 200) throw new Error(`POST executor answered ${res.status}: ${await res.text()}`);
    return res.json();
  }

  /** Identification (+password in the same step, as outposts send it), then password if asked. */
  // biome-ignore lint/suspicious/noExplicitAny: challenges are arbitrary JSON
  async login(slug: string, username: string, password: string, query = ""): Promise<any> {
    let challenge = await this.get(slug, query);
    for (let depth = 0; depth < 10; depth++) {
      switch (challenge.component) {
        case "ak-stage-identification":
          challenge = await this.post(
            slug,
            { component: challenge.component, uid_field: username, password },
            query,
          );
          break;
        case "ak-stage-password":
          if (Object.keys(challenge.response_errors ?? {}).length > 0) return challenge;
          challenge = await this.post(slug, { component: challenge.component, password }, query);
          break;
        case "ak-stage-user-login":
          challenge = await this.post(slug, { component: challenge.component, remember_me: true }, query);
          break;
        default:
          return challenge;
      }
      if (
        Object.keys(challenge.response_errors ?? {}).length > 0 &&
        challenge.component === "ak-stage-identification"
      ) {
        return challenge;
      }
    }
    return challenge;
  }
}
