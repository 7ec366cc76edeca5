/** authentik's list envelope: page numbers (0 when there is none), counts and 1-based indexes. */
import { notFound, validationError } from "../../../shared/errors.ts";

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 10_000;

export interface PageRequest {
  page: number;
  pageSize: number;
  offset: number;
}

export interface Pagination {
  next: number;
  previous: number;
  count: number;
  current: number;
  total_pages: number;
  start_index: number;
  end_index: number;
}

export interface Paginated<T> {
  pagination: Pagination;
  results: T[];
  autocomplete: Record<string, unknown>;
}

export function pageRequest(params: URLSearchParams): PageRequest {
  const page = positiveInt(params.get("page"), 1);
  if (page === undefined) throw notFound("API0010InvalidPage", "Invalid page.");
  const size = positiveInt(params.get("page_size"), DEFAULT_PAGE_SIZE);
  if (size === undefined) {
    throw validationError("API0011InvalidPageSize", { page_size: ["A valid integer is required."] });
  }
  const pageSize = Math.min(size, MAX_PAGE_SIZE);
  return { page, pageSize, offset: (page - 1) * pageSize };
}

function positiveInt(raw: string | null, fallback: number): number | undefined {
  if (raw === null || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) return undefined;
  const n = Number(raw);
  return n >= 1 && Number.isSafeInteger(n) ? n : undefined;
}

export function paginate<T>(results: T[], count: number, req: PageRequest): Paginated<T> {
  const totalPages = Math.max(1, Math.ceil(count / req.pageSize));
  if (req.page > totalPages) throw notFound("API0012PageOutOfRange", "Invalid page.");
  return {
    pagination: {
      next: req.page < totalPages ? req.page + 1 : 0,
      previous: req.page > 1 ? req.page - 1 : 0,
      count,
      current: req.page,
      total_pages: totalPages,
      start_index: count === 0 ? 0 : req.offset + 1,
      end_index: req.offset + results.length,
    },
    results,
    autocomplete: {},
  };
}
