/** The outpost's REST client: bearer token, outpost user agent, authentik's pagination followed to the end. */
import { GatehouseError } from "../../shared/errors.ts";
import { VERSION } from "../../shared/version.ts";

export class CoreUnavailable extends GatehouseError {
  constructor(message: string, cause?: unknown) {
    super(message, { status: 503, code: "OR0001CoreUnavailable", cause });
  }
}

export interface ApiClientOptions {
  host: string;
  token: string;
  insecure: boolean;
  timeoutMs?: number;
}

/** The object asked for does not exist (any more). */
export class NotFound extends GatehouseError {
  constructor(message: string) {
    super(message, { status: 404, code: "OR0002NotFound" });
  }
}

/** The core refused what was sent (400). */
export class Rejected extends GatehouseError {
  constructor(message: string) {
    super(message, { status: 400, code: "OR0004Rejected" });
  }
}

export class ApiClient {
  readonly base: string;

  constructor(private readonly options: ApiClientOptions) {
    this.base = options.host.replace(/\/+$/, "");
  }

  async get<T>(path: string): Promise<T> {
    return this.send<T>("GET", path);
  }

  /**
   * One call to the core's API. A 400 is the core refusing the request's content (`Rejected`), a 404 a
   * missing object, 401/403 a refused token; a network error or a 5xx is `CoreUnavailable`.
   */
  async send<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base}/api/v3${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.options.token}`,
          "user-agent": `goauthentik.io/outpost/${VERSION}`,
          accept: "application/json",
          ...(body !== undefined && { "content-type": "application/json" }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
        ...(this.options.insecure && { tls: { rejectUnauthorized: false } }),
      });
    } catch (err) {
      throw new CoreUnavailable(`cannot reach ${this.base}: ${(err as Error).message}`, err);
    }
    if (res.status === 403 || res.status === 401) {
      throw new GatehouseError(`the core refused the outpost token (${res.status})`, {
        status: 403,
        code: "OR0002TokenRefused",
      });
    }
    if (res.status === 404) throw new NotFound(`${path} answered 404`);
    if (res.status === 400) throw new Rejected(`${method} ${path} answered 400: ${await res.text()}`);
    if (!res.ok) throw new CoreUnavailable(`${path} answered ${res.status}`);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  /** Every result of a list endpoint, following `pagination.next`. */
  async all<T>(path: string, pageSize = 100): Promise<T[]> {
    const out: T[] = [];
    const sep = path.includes("?") ? "&" : "?";
    for (let page = 1; page > 0; ) {
      const body = await this.get<{ pagination: { next: number }; results: T[] }>(
        `${path}${sep}page=${page}&page_size=${pageSize}`,
      );
      out.push(...body.results);
      page = body.pagination.next;
    }
    return out;
  }
}
