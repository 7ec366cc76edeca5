/**
 * What the OAuth2 endpoints keep in memory between requests: the client index (client_id → provider),
 * providers' scope mappings, issuers and signing keys, and the discovery documents and JWKS. All of it
 * is dropped at once when an OAuth2 provider, an application, a scope mapping or a certificate-key pair
 * changes (the `oauth2_changed` signal, which other replicas hear through PostgreSQL's LISTEN/NOTIFY),
 * and every CACHE_TTL_MS anyway: with several replicas a missed notification is stale for at most that
 * long. Values are kept as promises, so concurrent misses share one load; a load that fails is not kept.
 */
import type { CoreContext } from "../context.ts";

/** The backstop: nothing cached is older than this. */
export const CACHE_TTL_MS = 5_000;
/** More entries than this (discovery documents are per request origin) and everything is dropped. */
const MAX_ENTRIES = 10_000;

export class OAuth2Cache {
  private readonly entries = new Map<string, Promise<unknown>>();
  private clearedAt: number;
  /** Counts clears: a value built from what was read before a clear must not be kept after it. */
  generation = 0;

  constructor(
    private readonly now: () => number = () => performance.now(),
    private readonly ttlMs = CACHE_TTL_MS,
  ) {
    this.clearedAt = now();
  }

  /** The value under `key`: kept from an earlier load, or loaded now. */
  get<T>(key: string, load: () => Promise<T>): Promise<T> {
    this.expire();
    const kept = this.entries.get(key);
    if (kept) return kept as Promise<T>;
    const loading = load();
    this.entries.set(key, loading);
    loading.catch(() => {
      if (this.entries.get(key) === loading) this.entries.delete(key);
    });
    return loading;
  }

  /** What was kept under `key`, if anything (loaded or put). */
  peek<T>(key: string): Promise<T> | undefined {
    this.expire();
    return this.entries.get(key) as Promise<T> | undefined;
  }

  /** Keeps `value`, unless the cache was cleared since `generation` (when it was read). */
  put<T>(key: string, value: T, generation: number): void {
    this.expire();
    if (generation === this.generation) this.entries.set(key, Promise.resolve(value));
  }

  /** Drops everything; loads under way still answer the requests that started them. */
  clear(): void {
    this.entries.clear();
    this.generation++;
    this.clearedAt = this.now();
  }

  private expire(): void {
    if (this.now() - this.clearedAt >= this.ttlMs || this.entries.size >= MAX_ENTRIES) this.clear();
  }
}

const caches = new WeakMap<CoreContext, OAuth2Cache>();

/** The core's OAuth2 cache, listening for changes from the first use on. */
export function oauth2Cache(ctx: CoreContext): OAuth2Cache {
  let cache = caches.get(ctx);
  if (!cache) {
    const created = new OAuth2Cache();
    ctx.signals.on((signal) => {
      // Users and groups feed claims and service accounts: a directory change drops those too.
      if (signal.kind === "oauth2_changed" || signal.kind === "directory_changed") created.clear();
    });
    caches.set(ctx, created);
    cache = created;
  }
  return cache;
}

/** Tells every replica's OAuth2 cache that what it holds may be stale. */
export const oauth2Changed = (ctx: CoreContext): void => ctx.signals.emit({ kind: "oauth2_changed" });

interface KeptResponse {
  body: string;
  headers: [string, string][];
}
interface SlugRequest {
  params: Record<string, string | undefined>;
  request: Request;
}

/** What an answer is kept under: discovery per slug and origin (the document names it), JWKS per slug. */
function responseKey({ params, request }: SlugRequest): string | undefined {
  const slug = params.slug;
  if (request.method !== "GET" || slug === undefined) return undefined;
  const url = new URL(request.url);
  if (url.pathname.endsWith("/.well-known/openid-configuration")) return `discovery:${slug}:${url.origin}`;
  if (url.pathname.endsWith("/jwks/")) return `jwks:${slug}`;
  return undefined;
}

/**
 * Route hooks that answer the per-application discovery document and JWKS from the cache (other routes
 * pass through). A 200 answer is kept; others are not, so an unknown slug costs a lookup every time, as
 * before; an answer built while the cache was cleared is not kept either.
 */
export function servedFromCache(ctx: CoreContext) {
  const building = new WeakMap<Request, number>();
  return {
    async beforeHandle(c: SlugRequest) {
      const key = responseKey(c);
      if (!key) return undefined;
      const cache = oauth2Cache(ctx);
      const kept = await cache.peek<KeptResponse>(key);
      if (kept) return new Response(kept.body, { headers: kept.headers });
      building.set(c.request, cache.generation);
      return undefined;
    },
    async afterHandle(c: SlugRequest & { responseValue: unknown }) {
      const key = responseKey(c);
      const answer = c.responseValue;
      const generation = building.get(c.request);
      if (!key || generation === undefined || !(answer instanceof Response) || answer.status !== 200) return;
      const kept: KeptResponse = { body: await answer.clone().text(), headers: [...answer.headers] };
      oauth2Cache(ctx).put(key, kept, generation);
    },
  };
}
