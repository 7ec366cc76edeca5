import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { backendNames, startTestCore, type TestCore } from "../../../tests/support/core.ts";
import { failure } from "../../../tests/support/errors.ts";
import { boolParam, intListParam, likePattern, listParam, orderingParam } from "./query.ts";

const params = (query: string) => new URLSearchParams(query);

describe("boolParam", () => {
  test("reads true/false and 1/0 in any case; absent or empty is undefined", () => {
    for (const raw of ["true", "True", "TRUE", "1"])
      expect(boolParam(params(`x=${raw}`), "x"), raw).toBe(true);
    for (const raw of ["false", "False", "0"]) expect(boolParam(params(`x=${raw}`), "x"), raw).toBe(false);
    expect(boolParam(params(""), "x")).toBeUndefined();
    expect(boolParam(params("x="), "x")).toBeUndefined();
    expect(boolParam(params("y=true"), "x")).toBeUndefined();
  });

  test("anything else is a 400 naming the parameter", () => {
    for (const raw of ["yes", "no", "2", "truthy"]) {
      const err = failure(() => boolParam(params(`is_active=${raw}`), "is_active"));
      expect(err.status).toBe(400);
      expect(err.fields).toEqual({ is_active: ["Must be a valid boolean."] });
    }
  });
});

describe("listParam and intListParam", () => {
  test("repeated parameters and comma-separated values combine, trimmed, empties dropped", () => {
    expect(listParam(params("a=x&a=y"), "a")).toEqual(["x", "y"]);
    expect(listParam(params("a=x,y"), "a")).toEqual(["x", "y"]);
    expect(listParam(params("a=x,y&a=z"), "a")).toEqual(["x", "y", "z"]);
    expect(listParam(params("a=%20x%20,,y,&a="), "a")).toEqual(["x", "y"]);
    expect(listParam(params("b=x"), "a")).toEqual([]);
  });

  test("integers are parsed; a non-integer is a 400 naming it", () => {
    expect(intListParam(params("pk=1&pk=2,30"), "pk")).toEqual([1, 2, 30]);
    expect(intListParam(params(""), "pk")).toEqual([]);
    for (const bad of ["x", "-1", "1.5", "0x10"]) {
      const err = failure(() => intListParam(params(`pk=1,${bad}`), "pk"));
      expect(err.status).toBe(400);
      expect(err.fields?.pk?.[0]).toContain(`"${bad}"`);
    }
  });
});

describe("orderingParam", () => {
  const allowed = { username: "u.username", name: "u.name", pk: "u.id" } as const;
  const fallback = [{ column: "u.username" as const, direction: "asc" as const }];

  test("reads fields in order, '-' meaning descending, mapped to columns", () => {
    expect(orderingParam(params("ordering=-username,name"), allowed, fallback)).toEqual([
      { column: "u.username", direction: "desc" },
      { column: "u.name", direction: "asc" },
    ]);
    expect(orderingParam(params("ordering=pk&ordering=-name"), allowed, fallback)).toEqual([
      { column: "u.id", direction: "asc" },
      { column: "u.name", direction: "desc" },
    ]);
  });

  test("unknown fields are ignored, as DRF does; none left means the default", () => {
    expect(orderingParam(params("ordering=password,-name"), allowed, fallback)).toEqual([
      { column: "u.name", direction: "desc" },
    ]);
    expect(orderingParam(params("ordering=password"), allowed, fallback)).toEqual(fallback);
    expect(orderingParam(params("ordering=u.id"), allowed, fallback)).toEqual(fallback);
    expect(orderingParam(params("ordering=toString,constructor"), allowed, fallback)).toEqual(fallback);
    expect(orderingParam(params(""), allowed, fallback)).toEqual(fallback);
  });
});

describe("likePattern", () => {
  test("wraps the term for a substring match and escapes LIKE wildcards and the escape character", () => {
    expect(likePattern("abc")).toBe("%abc%");
    expect(likePattern("a_b")).toBe("%a\\_b%");
    expect(likePattern("100%")).toBe("%100\\%%");
    expect(likePattern("a\\b")).toBe("%a\\\\b%");
    expect(likePattern("%_\\")).toBe("%\\%\\_\\\\%");
    expect(likePattern("")).toBe("%%");
  });
});

for (const backend of backendNames()) {
  describe(`search through the API on ${backend}`, () => {
    let t: TestCore;
    beforeAll(async () => {
      t = await startTestCore(backend);
      for (const username of ["a_b", "axb", "a%b", "a\\b", "AXB-upper"]) {
        const res = await t.api("POST", "/api/v3/core/users/", { body: { username, name: "Like Test" } });
        expect(res.status, res.text).toBe(201);
      }
    });
    afterAll(() => t.stop());

    const search = async (term: string) => {
      const res = await t.api(
        "GET",
        `/api/v3/core/users/?search=${encodeURIComponent(term)}&ordering=username`,
      );
      expect(res.status).toBe(200);
      return res.body.results.map((u: { username: string }) => u.username);
    };

    test("a search for a_b does not match axb", async () => {
      expect(await search("a_b")).toEqual(["a_b"]);
    });

    test("% and \\ are literal too; plain terms stay case-insensitive substrings", async () => {
      expect(await search("a%b")).toEqual(["a%b"]);
      expect(await search("%")).toEqual(["a%b"]);
      expect(await search("a\\b")).toEqual(["a\\b"]);
      expect(await search("axb")).toEqual(["AXB-upper", "axb"]);
    });

    test("attributes filters users and groups by JSON values, nested keys joined by __", async () => {
      const it = await t.api("POST", "/api/v3/core/users/", {
        body: {
          username: "attr-it",
          name: "Attr",
          attributes: { department: "it", level: 3, flag: true, nested: { a: "b" }, tags: ["x", "y"] },
        },
      });
      expect(it.status, it.text).toBe(201);
      await t.api("POST", "/api/v3/core/users/", {
        body: { username: "attr-hr", name: "Attr", attributes: { department: "hr", level: "3" } },
      });
      const users = async (filter: unknown) => {
        const q = encodeURIComponent(JSON.stringify(filter));
        const res = await t.api("GET", `/api/v3/core/users/?attributes=${q}&ordering=username`);
        expect(res.status, res.text).toBe(200);
        return res.body.results.map((u: { username: string }) => u.username);
      };
      expect(await users({ department: "it" })).toEqual(["attr-it"]);
      expect(await users({ level: 3 })).toEqual(["attr-it"]);
      expect(await users({ level: "3" })).toEqual(["attr-hr"]);
      expect(await users({ flag: true })).toEqual(["attr-it"]);
      expect(await users({ nested__a: "b" })).toEqual(["attr-it"]);
      expect(await users({ tags: ["x", "y"] })).toEqual(["attr-it"]);
      expect(await users({ department: "it", level: 4 })).toEqual([]);
      expect(await users({ "department'; drop table users; --": "it" })).toEqual([]);
      for (const bad of ["not json", "[1]", '{"a__":1}']) {
        const res = await t.api("GET", `/api/v3/core/users/?attributes=${encodeURIComponent(bad)}`);
        expect(res.status, bad).toBe(400);
        expect(res.body.attributes[0]).toStartWith("filter:");
      }
      const group = await t.api("POST", "/api/v3/core/groups/", {
        body: { name: "attr-team", attributes: { team: { colour: "blue" } } },
      });
      expect(group.status, group.text).toBe(201);
      const groups = await t.api(
        "GET",
        `/api/v3/core/groups/?attributes=${encodeURIComponent('{"team__colour":"blue"}')}`,
      );
      expect(groups.body.results.map((g: { name: string }) => g.name)).toEqual(["attr-team"]);
    });

    test("a filter given an empty value narrows nothing, as django-filter ignores it", async () => {
      const all = (await t.api("GET", "/api/v3/core/users/?page_size=100")).body.pagination.count as number;
      for (const query of ["username=", "name=&username=", "is_active=", "search=&ordering="]) {
        const res = await t.api("GET", `/api/v3/core/users/?page_size=100&${query}`);
        expect(res.status, `${query}: ${res.text}`).toBe(200);
        expect(res.body.pagination.count, query).toBe(all);
      }
      expect(
        (await t.api("GET", "/api/v3/core/users/?username=&name=Like%20Test")).body.pagination.count,
      ).toBe(5);
    });

    test("ordering by an Object.prototype name is ignored like any unknown field, not a 500", async () => {
      for (const path of [
        "/api/v3/core/users/",
        "/api/v3/core/groups/",
        "/api/v3/core/tokens/",
        "/api/v3/events/events/",
      ]) {
        for (const field of ["toString", "-constructor", "__proto__", "hasOwnProperty"]) {
          const res = await t.api("GET", `${path}?ordering=${field}`);
          expect(res.status, `${path} ${field}: ${res.text}`).toBe(200);
        }
      }
      const events = await t.api("GET", "/api/v3/events/events/?action=system_exception");
      expect(events.body.pagination.count).toBe(0);
    });
  });
}
