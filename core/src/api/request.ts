/** Per-request facts the HTTP edge knows (id, client address) that handlers need for audit. */
export interface RequestMeta {
  id: string;
  ip: string | null;
  userAgent: string;
  path: string;
  method: string;
  /** performance.now() when the request arrived. */
  started: number;
  /** The route template that matched, once one has (for metrics labels). */
  route?: string;
}

const metas = new WeakMap<Request, RequestMeta>();

export function attachRequestMeta(request: Request, meta: RequestMeta): void {
  metas.set(request, meta);
}

/** The meta attached by the server; requests handled without it (in-process tests) get a fresh one. */
export function requestMeta(request: Request): RequestMeta {
  let meta = metas.get(request);
  if (!meta) {
    const url = new URL(request.url);
    meta = {
      id: crypto.randomUUID(),
      ip: null,
      userAgent: request.headers.get("user-agent") ?? "",
      path: url.pathname,
      method: request.method,
      started: performance.now(),
    };
    metas.set(request, meta);
  }
  return meta;
}

/**
 * A request's query. A parameter given an empty value (`?name=`) is left out, as django-filter ignores
 * a filter with an empty value in authentik: such a filter narrows nothing, rather than matching "".
 */
export function searchParams(request: Request): URLSearchParams {
  const url = request.url;
  const q = url.indexOf("?");
  if (q === -1) return new URLSearchParams();
  const params = new URLSearchParams(url.slice(q + 1));
  for (const value of params.values())
    if (value === "") return new URLSearchParams([...params].filter(([, v]) => v !== ""));
  return params;
}
