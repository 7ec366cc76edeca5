import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { housekeeping } from "../../core/src/worker.ts";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";

const EVENTS = "/api/v3/events/events/";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DAY = 86_400_000;
const RETENTION_DAYS = 10;

/** authentik's Event fields (schema 2026.2.2). */
const EVENT_FIELDS = [
  "pk",
  "user",
  "action",
  "app",
  "context",
  "client_ip",
  "created",
  "expires",
  "brand",
].sort();

interface EventOut {
  pk: string;
  action: string;
  created: string;
  context: Record<string, unknown>;
  user: { pk: number; username: string; email?: string };
}

for (const backend of backendNames()) {
  describe(`events API on ${backend}`, () => {
    let t: TestCore;
    const start = new Date("2030-06-01T12:00:00.000Z");
    let now = start;
    /** Moves the clock on, so events made one after another have distinct times. */
    const tick = (ms = 1000) => {
      now = new Date(now.getTime() + ms);
    };

    beforeAll(async () => {
      t = await startTestCore(backend, { "events.retention_days": RETENTION_DAYS }, () => new Date(now));
    });
    afterAll(() => t.stop());

    const postEvent = async (body: Record<string, unknown>, token?: string) => {
      tick();
      const res = await t.api("POST", EVENTS, { body, token });
      expect(res.status, res.text).toBe(201);
      return res.body as EventOut & { expires: string; client_ip: string | null; app: string };
    };
    const list = async (query: string, token?: string) => {
      const res = await t.api("GET", `${EVENTS}?page_size=1000&${query}`, { token });
      expect(res.status, `${query}: ${res.text}`).toBe(200);
      return res.body.results as EventOut[];
    };
    const pks = (events: EventOut[]) => events.map((e) => e.pk);
    const createUser = async (username: string) => {
      const res = await t.api("POST", "/api/v3/core/users/", { body: { username, name: username } });
      expect(res.status, res.text).toBe(201);
      return res.body as { pk: number; username: string };
    };

    test("POST records an event in authentik's Event shape; expires follows events.retention_days", async () => {
      const res = await t.api("POST", EVENTS, {
        body: {
          action: "custom_shape",
          app: "scripts",
          context: { note: "hello", n: 1 },
          client_ip: "10.9.8.7",
        },
      });
      expect(res.status).toBe(201);
      const event = res.body;
      expect(Object.keys(event).sort()).toEqual(EVENT_FIELDS);
      expect(event.pk).toMatch(UUID);
      expect(event).toMatchObject({
        action: "custom_shape",
        app: "scripts",
        context: { note: "hello", n: 1 },
        client_ip: "10.9.8.7",
        brand: {},
      });
      expect(event.user).toMatchObject({ pk: 1, username: "akadmin" });
      expect(event.created).toBe(now.toISOString());
      expect(Date.parse(event.expires) - Date.parse(event.created)).toBe(RETENTION_DAYS * DAY);

      const read = await t.api("GET", `${EVENTS}${event.pk}/`);
      expect(read.status).toBe(200);
      expect(read.body).toEqual(event);
      expect((await t.api("GET", `${EVENTS}${event.pk.toUpperCase()}/`)).body.pk).toBe(event.pk);
    });

    test("POST honours a given user and expires; it refuses unknown actions and bad bodies", async () => {
      const expires = new Date(now.getTime() + 3 * DAY).toISOString();
      const given = await postEvent({
        action: "configuration_warning",
        app: "outpost",
        user: { pk: 42, username: "someone", email: "" },
        expires,
      });
      expect(given.user).toEqual({ pk: 42, username: "someone", email: "" });
      expect(given.expires).toBe(expires);

      const before = (await t.api("GET", `${EVENTS}?page_size=1`)).body.pagination.count;
      const cases: [unknown, string][] = [
        [{ action: "made_up", app: "x" }, "action"],
        [{ action: "custom_", app: "x" }, "action"],
        [{ action: "custom_Has-Dash", app: "x" }, "action"],
        [{ app: "x" }, "action"],
        [{ action: "custom_ok" }, "app"],
        [{ action: "custom_ok", app: "x", context: "text" }, "context"],
        [{ action: "custom_ok", app: "x", expires: "tomorrow" }, "expires"],
        [{ action: "custom_ok", app: "x", extra: 1 }, "extra"],
        [JSON.stringify("just a string"), "non_field_errors"],
        ["{not json", "detail"],
      ];
      for (const [body, field] of cases) {
        const res = await t.api("POST", EVENTS, { body });
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body, JSON.stringify(body)).toHaveProperty(field);
      }
      expect((await t.api("GET", `${EVENTS}?page_size=1`)).body.pagination.count).toBe(before);
      // The pk and created a client read back are ignored, not errors.
      const echoed = await postEvent({
        action: "custom_echo",
        app: "x",
        pk: given.pk,
        created: given.created,
      });
      expect(echoed.pk).not.toBe(given.pk);
    });

    test("the list is newest first by default and ordering=created reverses it", async () => {
      const first = await postEvent({ action: "custom_order", app: "order" });
      const second = await postEvent({ action: "custom_order", app: "order" });
      const third = await postEvent({ action: "custom_order", app: "order" });
      expect(pks(await list("action=custom_order"))).toEqual([third.pk, second.pk, first.pk]);
      expect(pks(await list("action=custom_order&ordering=created"))).toEqual([
        first.pk,
        second.pk,
        third.pk,
      ]);
      expect(pks(await list("action=custom_order&ordering=-created"))).toEqual([
        third.pk,
        second.pk,
        first.pk,
      ]);

      // The whole list too, and across pages.
      const all = await list("");
      const created = all.map((e) => e.created);
      expect([...created].sort().reverse()).toEqual(created);
      const page1 = await t.api("GET", `${EVENTS}?action=custom_order&page_size=2`);
      const page2 = await t.api("GET", `${EVENTS}?action=custom_order&page_size=2&page=2`);
      expect(page1.body.pagination).toMatchObject({ count: 3, next: 2, total_pages: 2 });
      expect(pks([...page1.body.results, ...page2.body.results])).toEqual([third.pk, second.pk, first.pk]);
    });

    test("filters: action (any part), actions (exact; repeated or comma-separated), client_ip, username", async () => {
      const alpha = await postEvent({ action: "custom_alpha", app: "f", client_ip: "192.0.2.1" });
      const beta = await postEvent({ action: "custom_beta", app: "f", client_ip: "192.0.2.2" });
      const gamma = await postEvent({
        action: "custom_gamma",
        app: "f",
        client_ip: "192.0.2.1",
        user: { pk: 77, username: "filter-user", email: "" },
      });

      // `action` matches any part of the action, case-insensitively, as authentik's filter does.
      expect(pks(await list("action=custom_alpha"))).toEqual([alpha.pk]);
      expect(pks(await list("action=ALP"))).toEqual([alpha.pk]);
      expect(pks(await list("action=CUSTOM_B"))).toEqual([beta.pk]);
      expect(pks(await list("action=mm&client_ip=192.0.2.1"))).toEqual([gamma.pk]);
      expect(await list("action=custom_delta")).toEqual([]);
      expect(pks(await list("actions=custom_alpha&actions=custom_beta"))).toEqual([beta.pk, alpha.pk]);
      expect(pks(await list("actions=custom_alpha,custom_gamma"))).toEqual([gamma.pk, alpha.pk]);
      expect(pks(await list("actions=custom_alpha&actions=custom_beta,custom_gamma"))).toEqual([
        gamma.pk,
        beta.pk,
        alpha.pk,
      ]);
      expect(pks(await list("client_ip=192.0.2.1"))).toEqual([gamma.pk, alpha.pk]);
      expect(pks(await list("client_ip=192.0.2.2&action=custom_beta"))).toEqual([beta.pk]);
      expect(await list("client_ip=192.0.2.2&action=custom_alpha")).toEqual([]);
      expect(pks(await list("username=filter-user"))).toEqual([gamma.pk]);
      expect(await list("username=filter")).toEqual([]);
      expect(pks(await list("username=akadmin&action=custom_alpha"))).toEqual([alpha.pk]);
    });

    test("filters: context_model_app, context_model_name and context_model_pk", async () => {
      tick();
      const group = (await t.api("POST", "/api/v3/core/groups/", { body: { name: "events-model" } })).body;
      tick();
      const user = await createUser("events-model-user");
      tick();
      await t.api("PATCH", `/api/v3/core/groups/${group.pk}/`, { body: { name: "events-model-2" } });

      const byGroup = await list(`context_model_name=group&context_model_pk=${group.pk}`);
      expect(byGroup.map((e) => e.action)).toEqual(["model_updated", "model_created"]);
      expect(byGroup[0]?.context.model).toMatchObject({
        app: "authentik_core",
        model_name: "group",
        pk: group.pk,
      });
      // A numeric pk (users) matches its text form.
      const byUser = await list(`context_model_name=user&context_model_pk=${user.pk}`);
      expect(byUser.map((e) => e.action)).toEqual(["model_created"]);
      expect(await list(`context_model_name=group&context_model_pk=${user.pk}`)).toEqual([]);
      // authentik keeps uuids without dashes in the context; a client may send either form.
      const hex = group.pk.replaceAll("-", "");
      expect(pks(await list(`context_model_pk=${hex}`))).toEqual(pks(byGroup));
      expect(pks(await list(`context_model_pk=${group.pk.toUpperCase()}`))).toEqual(pks(byGroup));
      const byApp = await list(`context_model_app=authentik_core&context_model_pk=${group.pk}`);
      expect(byApp).toHaveLength(2);
      expect(await list(`context_model_app=other_app&context_model_pk=${group.pk}`)).toEqual([]);
    });

    test("search looks in action, app, client_ip, user and context, case-insensitively", async () => {
      const noted = await postEvent({
        action: "custom_search",
        app: "searcher",
        context: { note: "Needle_42" },
      });
      const ip = await postEvent({ action: "custom_search", app: "searcher", client_ip: "198.51.100.77" });
      const who = await postEvent({
        action: "custom_search",
        app: "searcher",
        user: { pk: 99, username: "SearchedPerson", email: "" },
      });
      expect(pks(await list("search=needle_42"))).toEqual([noted.pk]);
      // The underscore is literal, not a LIKE wildcard.
      expect(await list("search=needleX42")).toEqual([]);
      expect(pks(await list("search=198.51.100.77"))).toEqual([ip.pk]);
      expect(pks(await list("search=searchedperson"))).toEqual([who.pk]);
      expect(pks(await list("search=CUSTOM_SEARCH"))).toEqual([who.pk, ip.pk, noted.pk]);
      expect(pks(await list("search=searcher&action=custom_search"))).toHaveLength(3);
    });

    test("retrieve answers 404 for an unknown or malformed id", async () => {
      expect((await t.api("GET", `${EVENTS}00000000-0000-4000-8000-000000000000/`)).status).toBe(404);
      const malformed = await t.api("GET", `${EVENTS}not-a-uuid/`);
      expect(malformed.status).toBe(404);
      expect(malformed.body.detail).toBeString();
      expect((await t.api("GET", `${EVENTS}1/`)).status).toBe(404);
      expect((await t.api("GET", EVENTS, { token: null })).status).toBe(403);
    });

    test("a non-superuser sees only their own events and cannot post", async () => {
      const eve = await createUser("eve");
      const key = (
        await t.api("POST", "/api/v3/core/tokens/", {
          body: { identifier: "eve-api", intent: "api", user: eve.pk, expiring: false },
        })
      ).body.key as string;
      tick();
      // Eve's own doings are recorded with her as the user.
      await t.api("PATCH", `/api/v3/core/users/${eve.pk}/`, { token: key, body: { name: "Eve E." } });
      tick();
      await t.api("GET", "/api/v3/core/tokens/eve-api/view_key/", { token: key });
      const aboutEve = await postEvent({
        action: "custom_for_eve",
        app: "x",
        user: { pk: eve.pk, username: "eve", email: "" },
      });
      const notEve = await postEvent({ action: "custom_not_eve", app: "x" });

      const seen = await list("", key);
      expect(seen.map((e) => e.action)).toEqual(["custom_for_eve", "secret_view", "model_updated"]);
      for (const e of seen) expect(e.user.pk).toBe(eve.pk);
      expect((await list("action=custom_not_eve", key)).length).toBe(0);
      expect((await t.api("GET", `${EVENTS}${aboutEve.pk}/`, { token: key })).status).toBe(200);
      expect((await t.api("GET", `${EVENTS}${notEve.pk}/`, { token: key })).status).toBe(404);

      const post = await t.api("POST", EVENTS, { token: key, body: { action: "custom_eve", app: "x" } });
      expect(post.status).toBe(403);
      expect((await list("action=custom_eve")).length).toBe(0);
    });

    test("housekeeping deletes the events whose expires has passed and keeps the rest", async () => {
      const old = await postEvent({ action: "custom_old", app: "hk" });
      now = new Date(now.getTime() + 5 * DAY);
      const recent = await postEvent({ action: "custom_recent", app: "hk" });
      const longLived = await postEvent({
        action: "custom_long",
        app: "hk",
        expires: new Date(now.getTime() + 100 * DAY).toISOString(),
      });
      const exists = async (pk: string) => (await t.api("GET", `${EVENTS}${pk}/`)).status === 200;
      const saved = now;
      try {
        // Whatever earlier tests left due is swept first; then nothing more is due.
        await housekeeping(t.core.ctx);
        expect((await housekeeping(t.core.ctx)).events).toBe(0);
        expect(await exists(old.pk)).toBe(true);
        // Past the old event's retention, but not the recent one's.
        now = new Date(Date.parse(old.expires) + 1000);
        const first = await housekeeping(t.core.ctx);
        expect(first.events).toBeGreaterThanOrEqual(1);
        expect(await exists(old.pk)).toBe(false);
        expect(await exists(recent.pk)).toBe(true);
        expect(await exists(longLived.pk)).toBe(true);
        // Running again finds nothing more.
        expect((await housekeeping(t.core.ctx)).events).toBe(0);
        now = new Date(Date.parse(recent.expires) + 1000);
        await housekeeping(t.core.ctx);
        expect(await exists(recent.pk)).toBe(false);
        expect(await exists(longLived.pk)).toBe(true);
      } finally {
        now = saved;
      }
    });
  });

  describe(`unexpected errors on ${backend}`, () => {
    let t: TestCore;
    beforeAll(async () => {
      t = await startTestCore(backend);
    });
    afterAll(() => t.stop());

    test("a handler that throws gets a generic 500, a system_exception event, and the core keeps serving", async () => {
      await t.api("POST", "/api/v3/core/groups/", { body: { name: "before-the-crash" } });
      // Only the group serializer reads group_roles; authentication and the users list do not.
      await sql`drop table group_roles`.execute(t.core.ctx.store.db);

      const res = await t.api("GET", "/api/v3/core/groups/");
      expect(res.status).toBe(500);
      expect(res.headers.get("content-type")).toContain("application/json");
      expect(Object.keys(res.body).sort()).toEqual(["code", "detail"]);
      expect(res.body.code).toBe("internal_error");
      expect(res.body.detail).toMatch(/^An internal error occurred \(reference [0-9a-f-]{36}\)\.$/);
      expect(res.text).not.toMatch(/group_roles|select|relation|no such table|stack|\.ts:|at /i);

      const reference = /reference ([0-9a-f-]{36})/.exec(res.body.detail)?.[1];
      const rows = await t.core.ctx.store.db
        .selectFrom("events")
        .selectAll()
        .where("action", "=", "system_exception")
        .execute();
      expect(rows).toHaveLength(1);
      const context = (
        typeof rows[0]?.context === "string" ? JSON.parse(rows[0].context) : rows[0]?.context
      ) as {
        http_request: { path: string; method: string; request_id: string };
      };
      expect(context.http_request).toMatchObject({ path: "/api/v3/core/groups/", method: "GET" });
      expect(context.http_request.request_id).toBe(reference as string);
      // The details went to the log, under the same reference.
      const logged = t.logs.find((l) => l.msg === "unhandled error");
      expect(logged?.request_id).toBe(reference);

      // The same failure on a write rolls back and answers the same way.
      const write = await t.api("POST", "/api/v3/core/groups/", { body: { name: "during-the-crash" } });
      expect(write.status).toBe(500);
      expect(write.body.code).toBe("internal_error");

      // Everything else still answers.
      expect((await t.api("GET", "/-/health/live/")).status).toBe(204);
      expect((await t.api("GET", "/-/health/ready/")).status).toBe(204);
      const users = await t.api("GET", "/api/v3/core/users/");
      expect(users.status).toBe(200);
      expect(users.body.results.map((u: { username: string }) => u.username)).toContain("akadmin");
      const events = await t.api("GET", "/api/v3/events/events/?action=system_exception");
      expect(events.status).toBe(200);
      expect(events.body.pagination.count).toBe(2);
      expect((await t.api("GET", "/api/v3/core/groups/not-a-uuid/")).status).toBe(404);
    });
  });
}
