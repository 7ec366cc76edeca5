import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Type as t } from "@sinclair/typebox";
import { GatehouseError } from "../../../shared/errors.ts";
import { backendNames, startTestCore, type TestCore } from "../../../tests/support/core.ts";
import { parseBody } from "./body.ts";

const Schema = t.Object({
  name: t.String({ minLength: 1 }),
  slug: t.String({ pattern: "^[a-z]+$" }),
  count: t.Optional(t.Integer({ minimum: 0 })),
  enabled: t.Optional(t.Boolean()),
  id: t.Optional(t.String({ format: "uuid" })),
  email: t.Optional(t.String({ format: "email" })),
  when: t.Optional(t.String({ format: "date-time" })),
});

/** The field → messages body parseBody throws, or undefined when it accepts. */
function errorsOf(
  body: unknown,
  options: Parameters<typeof parseBody>[2] = {},
): Record<string, string[]> | undefined {
  try {
    parseBody(Schema, body, options);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError);
    const e = err as GatehouseError;
    expect(e.status).toBe(400);
    expect(e.expose).toBe(true);
    return { ...e.fields };
  }
}

describe("parseBody", () => {
  test("a valid body comes back as given", () => {
    const body = { name: "Widget", slug: "widget", count: 3, enabled: false };
    expect(parseBody(Schema, body)).toEqual(body);
  });

  test("registered formats are checked: uuid, email, date-time", () => {
    const base = { name: "n", slug: "s" };
    expect(errorsOf({ ...base, id: "00000000-0000-4000-8000-000000000000" })).toBeUndefined();
    expect(errorsOf({ ...base, id: "not-a-uuid" })).toHaveProperty("id");
    expect(errorsOf({ ...base, email: "a@example.com" })).toBeUndefined();
    expect(errorsOf({ ...base, email: "" })).toBeUndefined();
    expect(errorsOf({ ...base, email: "no-at-sign" })).toHaveProperty("email");
    expect(errorsOf({ ...base, when: "2030-01-01T00:00:00Z" })).toBeUndefined();
    expect(errorsOf({ ...base, when: "2030-01-01" })).toHaveProperty("when");
    expect(errorsOf({ ...base, when: "Tue Jan 01 2030 00:00:00 GMT+0000 (UTC)" })).toHaveProperty("when");
    expect(errorsOf({ ...base, id: "urn:uuid:00000000-0000-4000-8000-000000000000" })).toHaveProperty("id");
    expect(errorsOf({ ...base, when: "2030-13-45T99:99:00Z" })).toHaveProperty("when");
  });

  test("unknown fields are errors, each named", () => {
    expect(errorsOf({ name: "n", slug: "s", colour: "red", size: 2 })).toEqual({
      colour: ["Unknown field."],
      size: ["Unknown field."],
    });
  });

  test("keys that name Object.prototype members are unknown fields, never the input's prototype", () => {
    for (const key of ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"]) {
      const body = JSON.parse(`{"name":"n","slug":"s","${key}":{"enabled":true}}`);
      expect(errorsOf(body), key).toEqual({ [key]: ["Unknown field."] });
    }
    // Marked read-only, a __proto__ key is dropped and still leaves no inherited fields behind.
    const body = JSON.parse('{"name":"n","slug":"s","__proto__":{"enabled":true,"count":5}}');
    const parsed = parseBody(Schema, body, { readOnly: ["__proto__"] }) as Record<string, unknown>;
    expect(parsed.enabled).toBeUndefined();
    expect(parsed.count).toBeUndefined();
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
  });

  test("read-only fields a client echoes back are dropped, not errors", () => {
    const parsed = parseBody(
      Schema,
      { name: "n", slug: "s", pk: 7, created: "x" },
      { readOnly: ["pk", "created"] },
    );
    expect(parsed).toEqual({ name: "n", slug: "s" });
    expect(parsed).not.toHaveProperty("pk");
  });

  test("every missing required field is named with DRF's message", () => {
    expect(errorsOf({})).toEqual({ name: ["This field is required."], slug: ["This field is required."] });
    expect(errorsOf({ name: "n" })).toEqual({ slug: ["This field is required."] });
    // An explicit undefined is as good as missing.
    expect(errorsOf({ name: undefined, slug: "s" })).toEqual({ name: ["This field is required."] });
  });

  test("type and constraint errors name their field with one sentence", () => {
    const fields = errorsOf({ name: "", slug: "UPPER", count: -1, enabled: "yes" });
    expect(Object.keys(fields ?? {}).sort()).toEqual(["count", "enabled", "name", "slug"]);
    for (const messages of Object.values(fields ?? {})) {
      expect(messages).toHaveLength(1);
      expect(messages[0]).toMatch(/^[A-Z].*\.$/);
    }
    expect(errorsOf({ name: "n", slug: "s", count: 1.5 })).toHaveProperty("count");
  });

  test("unknown-field and value errors are reported together", () => {
    expect(Object.keys(errorsOf({ slug: 5, extra: 1 }) ?? {}).sort()).toEqual(["extra", "name", "slug"]);
  });

  test("partial (PATCH) skips required fields but still checks what is given", () => {
    const patch = (body: unknown): unknown => parseBody(Schema, body, { partial: true });
    expect(patch({})).toEqual({});
    expect(patch({ count: 2 })).toEqual({ count: 2 });
    expect(errorsOf({ count: "two" }, { partial: true })).toEqual({ count: [expect.any(String)] });
    expect(errorsOf({ bogus: 1 }, { partial: true })).toEqual({ bogus: ["Unknown field."] });
    expect(errorsOf({ name: "" }, { partial: true })).toHaveProperty("name");
  });

  test("a body that is not an object gets DRF's non_field_errors", () => {
    const cases: [unknown, string][] = [
      [undefined, "nothing"],
      ["", "nothing"],
      [null, "object"],
      [[{ name: "n" }], "list"],
      ["text", "string"],
      [42, "number"],
      [true, "boolean"],
    ];
    for (const [body, got] of cases) {
      expect(errorsOf(body), String(body)).toEqual({
        non_field_errors: [`Invalid data. Expected a dictionary, but got ${got}.`],
      });
    }
  });
});

for (const backend of backendNames()) {
  describe(`request bodies through the API on ${backend}`, () => {
    let t: TestCore;
    beforeAll(async () => {
      t = await startTestCore(backend);
    });
    afterAll(() => t.stop());

    test("a __proto__ key cannot smuggle fields past a non-superuser's self-edit check", async () => {
      const user = (await t.api("POST", "/api/v3/core/users/", { body: { username: "sneaky", name: "S" } }))
        .body;
      const key = (
        await t.api("POST", "/api/v3/core/tokens/", {
          body: { identifier: "sneaky-api", intent: "api", user: user.pk, expiring: false },
        })
      ).body.key as string;
      const admins = (await t.api("GET", "/api/v3/core/groups/?name=authentik%20Admins")).body.results[0].pk;
      const res = await t.api("PATCH", `/api/v3/core/users/${user.pk}/`, {
        token: key,
        body: `{"name":"Sneaky","__proto__":{"groups":["${admins}"],"type":"internal"}}`,
      });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ __proto__: ["Unknown field."] });
      const me = await t.api("GET", "/api/v3/core/users/me/", { token: key });
      expect(me.body.user).toMatchObject({ name: "S", is_superuser: false, groups: [] });
    });

    test("the project's formats apply, not Elysia's: an empty email is allowed, a bare date is no date-time", async () => {
      const created = await t.api("POST", "/api/v3/core/users/", {
        body: { username: "mailless", name: "M", email: "m@example.com" },
      });
      const cleared = await t.api("PATCH", `/api/v3/core/users/${created.body.pk}/`, { body: { email: "" } });
      expect(cleared.status, cleared.text).toBe(200);
      expect(cleared.body.email).toBe("");
      // A user read back (email "") can be PUT back unchanged.
      const put = await t.api("PUT", `/api/v3/core/users/${created.body.pk}/`, { body: cleared.body });
      expect(put.status, put.text).toBe(200);
      const bareDate = await t.api("POST", "/api/v3/core/tokens/", {
        body: { identifier: "bare-date", intent: "api", expires: "2030-01-01" },
      });
      expect(bareDate.status).toBe(400);
      expect(bareDate.body).toHaveProperty("expires");
    });
  });
}
