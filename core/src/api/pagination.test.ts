import { describe, expect, test } from "bun:test";
import { failure } from "../../../tests/support/errors.ts";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type PageRequest, pageRequest, paginate } from "./pagination.ts";

const params = (query: string) => new URLSearchParams(query);

describe("pageRequest", () => {
  test("defaults to the first page of 100", () => {
    expect(pageRequest(params(""))).toEqual({ page: 1, pageSize: DEFAULT_PAGE_SIZE, offset: 0 });
    expect(pageRequest(params("page=&page_size="))).toEqual({ page: 1, pageSize: 100, offset: 0 });
  });

  test("page and page_size give the offset", () => {
    expect(pageRequest(params("page=3&page_size=25"))).toEqual({ page: 3, pageSize: 25, offset: 50 });
    expect(pageRequest(params("page_size=1"))).toEqual({ page: 1, pageSize: 1, offset: 0 });
  });

  test("page_size is capped, not refused", () => {
    expect(pageRequest(params("page_size=1000000")).pageSize).toBe(MAX_PAGE_SIZE);
    expect(pageRequest(params("page=2&page_size=1000000")).offset).toBe(MAX_PAGE_SIZE);
  });

  test("a page that is not a positive integer is 404 Invalid page, as DRF answers", () => {
    for (const page of ["0", "-1", "abc", "1.5", " 1", "99999999999999999999"]) {
      const err = failure(() => pageRequest(params(`page=${encodeURIComponent(page)}`)));
      expect(err.status, page).toBe(404);
      expect(err.message).toBe("Invalid page.");
    }
  });

  test("a page_size that is not a positive integer is 400 with a page_size field", () => {
    for (const size of ["0", "-5", "ten", "2e3"]) {
      const err = failure(() => pageRequest(params(`page_size=${size}`)));
      expect(err.status, size).toBe(400);
      expect(err.fields).toEqual({ page_size: ["A valid integer is required."] });
    }
  });
});

describe("paginate", () => {
  const req = (page: number, pageSize: number): PageRequest => ({
    page,
    pageSize,
    offset: (page - 1) * pageSize,
  });
  const items = (n: number, from = 1) => Array.from({ length: n }, (_, i) => from + i);

  test("an empty list is one empty page with zero indexes", () => {
    expect(paginate([], 0, req(1, 10))).toEqual({
      pagination: {
        next: 0,
        previous: 0,
        count: 0,
        current: 1,
        total_pages: 1,
        start_index: 0,
        end_index: 0,
      },
      results: [],
      autocomplete: {},
    });
  });

  test("first, middle and last pages carry 1-based indexes and neighbouring page numbers", () => {
    expect(paginate(items(10), 25, req(1, 10)).pagination).toEqual({
      next: 2,
      previous: 0,
      count: 25,
      current: 1,
      total_pages: 3,
      start_index: 1,
      end_index: 10,
    });
    expect(paginate(items(10, 11), 25, req(2, 10)).pagination).toMatchObject({
      next: 3,
      previous: 1,
      start_index: 11,
      end_index: 20,
    });
    const last = paginate(items(5, 21), 25, req(3, 10));
    expect(last.pagination).toMatchObject({
      next: 0,
      previous: 2,
      current: 3,
      start_index: 21,
      end_index: 25,
    });
    expect(last.results).toEqual([21, 22, 23, 24, 25]);
  });

  test("an exact multiple has no extra empty page", () => {
    expect(paginate(items(10, 11), 20, req(2, 10)).pagination).toMatchObject({ total_pages: 2, next: 0 });
  });

  test("a page past the end is 404", () => {
    const err = failure(() => paginate([], 25, req(4, 10)));
    expect(err.status).toBe(404);
    expect(err.message).toBe("Invalid page.");
    expect(failure(() => paginate([], 0, req(2, 10))).status).toBe(404);
  });
});
