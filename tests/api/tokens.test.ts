import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createToken as createTokenRow } from "../../core/src/tokens/service.ts";
import { ADMIN_TOKEN, backendNames, startTestCore, type TestCore } from "../support/core.ts";

const TOKENS = "/api/v3/core/tokens/";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MINUTE = 60_000;

/** authentik's Token fields (schema 2026.2.2); the create response adds the key once. */
const TOKEN_FIELDS = [
  "pk",
  "managed",
  "identifier",
  "intent",
  "user",
  "user_obj",
  "description",
  "expires",
  "expiring",
].sort();

interface TokenOut {
  identifier: string;
}
const identifiers = (list: TokenOut[]) => list.map((x) => x.identifier);

for (const backend of backendNames()) {
  describe(`tokens API on ${backend}`, () => {
    let t: TestCore;
    let now = new Date();
    const me = (token: string | null) => t.api("GET", "/api/v3/core/users/me/", { token });

    beforeAll(async () => {
      t = await startTestCore(backend, {}, () => new Date(now));
    });
    afterAll(() => t.stop());

    const createToken = async (body: Record<string, unknown>, token?: string) => {
      const res = await t.api("POST", TOKENS, { body, token });
      expect(res.status, res.text).toBe(201);
      return res.body;
    };
    const createUser = async (username: string) => {
      const res = await t.api("POST", "/api/v3/core/users/", { body: { username, name: username } });
      expect(res.status, res.text).toBe(201);
      return res.body as { pk: number; username: string };
    };
    const userWithToken = async (username: string) => {
      const user = await createUser(username);
      const created = await createToken({
        identifier: `${username}-api`,
        intent: "api",
        user: user.pk,
        expiring: false,
      });
      return { user, key: created.key as string };
    };

    test("create answers 201 with the key once; read and list never show it", async () => {
      const created = await t.api("POST", TOKENS, {
        body: { identifier: "first-token", intent: "api", description: "for scripts", expiring: false },
      });
      expect(created.status).toBe(201);
      const out = created.body;
      expect(Object.keys(out).sort()).toEqual([...TOKEN_FIELDS, "key"].sort());
      expect(out.pk).toMatch(UUID);
      expect(out).toMatchObject({
        identifier: "first-token",
        intent: "api",
        description: "for scripts",
        expiring: false,
        expires: null,
        managed: null,
        user: 1,
      });
      expect(out.user_obj.username).toBe("akadmin");
      // 256 bits of randomness: 43 characters of base64url.
      expect(out.key).toMatch(/^[A-Za-z0-9_-]{43,}$/);
      expect((await me(out.key)).body.user.username).toBe("akadmin");

      const read = await t.api("GET", `${TOKENS}first-token/`);
      expect(read.status).toBe(200);
      expect(Object.keys(read.body).sort()).toEqual(TOKEN_FIELDS);
      expect(read.text).not.toContain(out.key);
      const list = await t.api("GET", `${TOKENS}?page_size=1000`);
      expect(list.text).not.toContain(out.key);
      expect(Object.keys(list.body.results[0]).sort()).toEqual(TOKEN_FIELDS);

      // Two tokens never share a key.
      const other = await createToken({ identifier: "second-token", intent: "api" });
      expect(other.key).not.toBe(out.key);
    });

    test("a token made without intent is an API token, as in authentik", async () => {
      const made = await createToken({ identifier: "no-intent" });
      expect(made.intent).toBe("api");
      expect((await me(made.key)).status).toBe(200);
    });

    test("expiring defaults to true with expires 30 minutes ahead, and the token stops working then", async () => {
      const made = await createToken({ identifier: "default-expiry", intent: "api" });
      expect(made.expiring).toBe(true);
      expect(Date.parse(made.expires)).toBe(now.getTime() + 30 * MINUTE);
      expect((await me(made.key)).status).toBe(200);
      const saved = now;
      try {
        now = new Date(saved.getTime() + 29 * MINUTE);
        expect((await me(made.key)).status).toBe(200);
        now = new Date(saved.getTime() + 31 * MINUTE);
        const late = await me(made.key);
        expect(late.status).toBe(403);
        expect(late.body.detail).toMatch(/invalid or expired/);
        expect((await t.api("GET", `${TOKENS}default-expiry/view_key/`)).status).toBe(404);
        // A token that does not expire keeps working however late it gets.
        now = new Date(saved.getTime() + 5 * 365 * 86_400_000);
        expect((await me(ADMIN_TOKEN)).status).toBe(200);
      } finally {
        now = saved;
      }
    });

    test("a token created already expired cannot authenticate and its key cannot be viewed", async () => {
      const past = new Date(now.getTime() - MINUTE).toISOString();
      const made = await createToken({ identifier: "born-expired", intent: "api", expires: past });
      expect(made.expires).toBe(past);
      const res = await me(made.key);
      expect(res.status).toBe(403);
      expect(res.body.detail).toMatch(/invalid or expired/);
      const view = await t.api("GET", `${TOKENS}born-expired/view_key/`);
      expect(view.status).toBe(404);
      expect(view.text).not.toContain(made.key);
      // It is still listed and readable, just unusable.
      expect((await t.api("GET", `${TOKENS}born-expired/`)).status).toBe(200);

      // An expires with a UTC offset is the same instant.
      const offset = await createToken({
        identifier: "offset-expiry",
        intent: "api",
        expires: "2000-01-01T02:00:00+02:00",
      });
      expect(offset.expires).toBe("2000-01-01T00:00:00.000Z");
      expect((await me(offset.key)).status).toBe(403);
    });

    test("ordering=expires orders instants, whatever UTC offsets they were given in", async () => {
      const make = (identifier: string, expires: string) =>
        createToken({ identifier, intent: "api", description: "order-by-expiry", expires });
      await make("expiry-b", "2031-01-01T05:00:00+09:00"); // 2030-12-31T20:00Z
      await make("expiry-c", "2030-12-31T21:00:00.000Z");
      await make("expiry-a", "2031-06-01T00:00:00Z");
      // Moved by an update to 2030-12-31T19:00Z.
      await t.api("PATCH", `${TOKENS}expiry-a/`, { body: { expires: "2030-12-31T23:00:00+04:00" } });
      const res = await t.api("GET", `${TOKENS}?description=order-by-expiry&ordering=expires`);
      expect(identifiers(res.body.results)).toEqual(["expiry-a", "expiry-b", "expiry-c"]);
      expect(res.body.results[0].expires).toBe("2030-12-31T19:00:00.000Z");
      const desc = await t.api("GET", `${TOKENS}?description=order-by-expiry&ordering=-expires`);
      expect(identifiers(desc.body.results)).toEqual(["expiry-c", "expiry-b", "expiry-a"]);
    });

    test("an unknown user is a 400 on the user field", async () => {
      const res = await t.api("POST", TOKENS, {
        body: { identifier: "orphan", intent: "api", user: 987654 },
      });
      expect(res.status).toBe(400);
      expect(res.body.user[0]).toContain("987654");
      await createToken({ identifier: "movable", intent: "api" });
      const move = await t.api("PATCH", `${TOKENS}movable/`, { body: { user: 987654 } });
      expect(move.status).toBe(400);
      expect(move.body).toHaveProperty("user");
      expect((await t.api("GET", `${TOKENS}movable/`)).body.user).toBe(1);
    });

    test("view_key returns the same key and records a secret_view event", async () => {
      const made = await createToken({ identifier: "viewable", intent: "api", expiring: false });
      const view = await t.api("GET", `${TOKENS}viewable/view_key/`);
      expect(view.status).toBe(200);
      expect(view.body).toEqual({ key: made.key });

      const events = await t.api("GET", "/api/v3/events/events/?action=secret_view&page_size=100");
      const mine = events.body.results.filter(
        (e: { context: { secret?: { name: string } } }) => e.context.secret?.name === "viewable",
      );
      expect(mine).toHaveLength(1);
      expect(mine[0].user.username).toBe("akadmin");
      expect(mine[0].context.secret).toMatchObject({ model_name: "token", pk: made.pk, name: "viewable" });
      expect(JSON.stringify(mine[0])).not.toContain(made.key);
      expect((await t.api("GET", `${TOKENS}no-such-token/view_key/`)).status).toBe(404);
    });

    test("the key is stored only hashed and sealed, and never logged", async () => {
      const made = await createToken({ identifier: "hashed", intent: "api", expiring: false });
      await t.api("GET", `${TOKENS}hashed/view_key/`);
      const rows = await t.core.ctx.store.db.selectFrom("tokens").selectAll().execute();
      const row = rows.find((r) => r.identifier === "hashed");
      expect(row).toBeDefined();
      for (const value of Object.values(row ?? {})) expect(String(value)).not.toContain(made.key);
      expect(JSON.stringify(rows)).not.toContain(made.key);
      expect(row?.key_hash).toMatch(/^[0-9a-f]{64}$/);
      const events = await t.core.ctx.store.db.selectFrom("events").selectAll().execute();
      expect(JSON.stringify(events)).not.toContain(made.key);
      expect(JSON.stringify(t.logs)).not.toContain(made.key);
    });

    test("list filters: identifier, intent, user__username, description, expiring, search", async () => {
      const { user } = await userWithToken("lister");
      await createToken({ identifier: "lister-app", intent: "app_password", user: user.pk, expiring: false });
      await createToken({
        identifier: "lister-note",
        intent: "api",
        user: user.pk,
        description: "Backup Job",
      });
      const list = async (query: string) => {
        const res = await t.api("GET", `${TOKENS}?page_size=1000&${query}`);
        expect(res.status, `${query}: ${res.text}`).toBe(200);
        return identifiers(res.body.results);
      };
      expect(await list("identifier=lister-app")).toEqual(["lister-app"]);
      expect(await list("identifier=lister")).toEqual([]);
      expect(await list("user__username=lister")).toEqual(["lister-api", "lister-app", "lister-note"]);
      expect(await list("user__username=lister&intent=app_password")).toEqual(["lister-app"]);
      expect(await list("user__username=lister&intent=api")).toEqual(["lister-api", "lister-note"]);
      expect(await list("description=Backup Job")).toEqual(["lister-note"]);
      expect(await list("user__username=lister&expiring=false")).toEqual(["lister-api", "lister-app"]);
      expect(await list("user__username=lister&expiring=true")).toEqual(["lister-note"]);
      // search: identifier, intent, username and description, case-insensitively.
      expect(await list("search=LISTER-A")).toEqual(["lister-api", "lister-app"]);
      expect(await list("search=backup")).toEqual(["lister-note"]);
      expect(await list("search=app_pass&user__username=lister")).toEqual(["lister-app"]);
      expect(await list("search=lister&ordering=-identifier")).toEqual([
        "lister-note",
        "lister-app",
        "lister-api",
      ]);
      const paged = await t.api("GET", `${TOKENS}?user__username=lister&page_size=2&page=2`);
      expect(paged.body.pagination).toMatchObject({ count: 3, current: 2, previous: 1, next: 0 });
      expect(identifiers(paged.body.results)).toEqual(["lister-note"]);
      expect((await t.api("GET", `${TOKENS}?expiring=maybe`)).status).toBe(400);
    });

    test("deleting a token revokes its API access at once", async () => {
      const { key } = await userWithToken("revokee");
      expect((await me(key)).status).toBe(200);
      expect((await t.api("DELETE", `${TOKENS}revokee-api/`)).status).toBe(204);
      expect((await me(key)).status).toBe(403);
      expect((await t.api("GET", `${TOKENS}revokee-api/`)).status).toBe(404);
      expect((await t.api("DELETE", `${TOKENS}revokee-api/`)).status).toBe(404);
    });

    test("only api-intent tokens authenticate the API", async () => {
      const user = await createUser("intents");
      const app = await createToken({ identifier: "intents-app", intent: "app_password", user: user.pk });
      expect(app.intent).toBe("app_password");
      expect((await me(app.key)).status).toBe(403);
      // Verification and recovery tokens are the flows' own: the API makes none (as authentik), and one
      // made by a flow does not open the API either.
      for (const intent of ["verification", "recovery"]) {
        const bad = await t.api("POST", TOKENS, { body: { identifier: `intents-${intent}`, intent } });
        expect(bad.status, intent).toBe(400);
        expect(bad.body.intent[0]).toBe(`Invalid intent ${intent}`);
      }
      const unknown = await t.api("POST", TOKENS, {
        body: { identifier: "intents-bad", intent: "superpower" },
      });
      expect(unknown.status).toBe(400);
      expect(unknown.body).toHaveProperty("intent");
      for (const intent of ["verification", "recovery"] as const) {
        const { key } = await createTokenRow(t.core.ctx, t.core.ctx.store.db, {
          identifier: `intents-flow-${intent}`,
          intent,
          user: user.pk,
        });
        expect((await me(key)).status, intent).toBe(403);
      }
    });

    test("an inactive user's tokens stop working", async () => {
      const { user, key } = await userWithToken("deactivated");
      expect((await me(key)).status).toBe(200);
      await t.api("PATCH", `/api/v3/core/users/${user.pk}/`, { body: { is_active: false } });
      expect((await me(key)).status).toBe(403);
    });

    test("a non-superuser creates, lists and views only their own tokens", async () => {
      const { user: kim, key } = await userWithToken("kim");
      const { user: lee } = await userWithToken("lee");

      const own = await t.api("POST", TOKENS, {
        token: key,
        body: { identifier: "kim-script", intent: "api" },
      });
      expect(own.status).toBe(201);
      expect(own.body.user).toBe(kim.pk);
      expect(own.body.user_obj.username).toBe("kim");
      const explicit = await t.api("POST", TOKENS, {
        token: key,
        body: { identifier: "kim-explicit", intent: "app_password", user: kim.pk },
      });
      expect(explicit.status).toBe(201);

      const list = await t.api("GET", `${TOKENS}?page_size=1000`, { token: key });
      expect(identifiers(list.body.results)).toEqual(["kim-api", "kim-explicit", "kim-script"]);
      expect((await t.api("GET", `${TOKENS}?user__username=lee`, { token: key })).body.results).toEqual([]);
      expect((await t.api("GET", `${TOKENS}kim-script/view_key/`, { token: key })).body.key).toBe(
        own.body.key,
      );
      const events = await t.api("GET", "/api/v3/events/events/?action=secret_view&username=kim");
      expect(events.body.pagination.count).toBe(1);

      // Echoing one's own token back (managed: null included) is fine.
      const read = (await t.api("GET", `${TOKENS}kim-script/`, { token: key })).body;
      const put = await t.api("PUT", `${TOKENS}kim-script/`, {
        token: key,
        body: { ...read, description: "nightly" },
      });
      expect(put.status, put.text).toBe(200);
      expect(put.body.description).toBe("nightly");
      const patched = await t.api("PATCH", `${TOKENS}kim-script/`, {
        token: key,
        body: { description: "x" },
      });
      expect(patched.status).toBe(200);

      // Kim's tokens expire (authentik's goauthentik.io/user/token-expires, true by default): asking for
      // one that never does gets an expiring one, and a PATCH cannot take the expiry away.
      const forever = await t.api("POST", TOKENS, {
        token: key,
        body: { identifier: "kim-forever", intent: "api", expiring: false },
      });
      expect(forever.status, forever.text).toBe(201);
      expect(forever.body.expiring).toBe(true);
      expect(forever.body.expires).toBeString();
      const unexpire = await t.api("PATCH", `${TOKENS}kim-forever/`, {
        token: key,
        body: { expiring: false },
      });
      expect(unexpire.status).toBe(400);
      expect(unexpire.body).toHaveProperty("expiring");
      // The attribute false (as on service accounts) lets a user keep a token that never expires.
      await t.api("PATCH", `/api/v3/core/users/${kim.pk}/`, {
        body: { attributes: { "goauthentik.io/user/token-expires": false } },
      });
      const lasting = await t.api("POST", TOKENS, {
        token: key,
        body: { identifier: "kim-lasting", intent: "api", expiring: false },
      });
      expect(lasting.body.expiring).toBe(false);
      await t.api("PATCH", `/api/v3/core/users/${kim.pk}/`, { body: { attributes: {} } });

      // Another user's token does not exist for kim.
      for (const [method, path, body] of [
        ["GET", `${TOKENS}lee-api/`, undefined],
        ["GET", `${TOKENS}lee-api/view_key/`, undefined],
        ["PATCH", `${TOKENS}lee-api/`, { description: "mine now" }],
        ["DELETE", `${TOKENS}lee-api/`, undefined],
      ] as const) {
        const res = await t.api(method, path, { token: key, body });
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.text).not.toMatch(/[A-Za-z0-9_-]{43}/);
      }
      expect((await t.api("GET", `${TOKENS}lee-api/`)).body.description).toBe("");

      // Nor may kim make one for lee, move a token to lee, or claim a managed name.
      const forLee = await t.api("POST", TOKENS, {
        token: key,
        body: { identifier: "kim-for-lee", intent: "api", user: lee.pk },
      });
      expect(forLee.status).toBe(403);
      const move = await t.api("PATCH", `${TOKENS}kim-script/`, { token: key, body: { user: lee.pk } });
      expect(move.status).toBe(403);
      const managed = await t.api("POST", TOKENS, {
        token: key,
        body: { identifier: "kim-managed", managed: "goauthentik.io/fake" },
      });
      expect(managed.status).toBe(403);
      // A managed token kim owns stays managed.
      await createToken({ identifier: "kim-managed-by-admin", user: kim.pk, managed: "goauthentik.io/test" });
      const unmanage = await t.api("PATCH", `${TOKENS}kim-managed-by-admin/`, {
        token: key,
        body: { managed: null },
      });
      expect(unmanage.status).toBe(403);
      expect((await t.api("GET", `${TOKENS}kim-managed-by-admin/`)).body.managed).toBe("goauthentik.io/test");
      const setKey = await t.api("POST", `${TOKENS}kim-script/set_key/`, {
        token: key,
        body: { key: "x".repeat(50) },
      });
      expect(setKey.status).toBe(403);
      expect((await t.api("GET", `${TOKENS}?user__username=lee`)).body.pagination.count).toBe(1);
      expect((await t.api("GET", `${TOKENS}?identifier=kim-for-lee`)).body.pagination.count).toBe(0);
      expect((await t.api("GET", `${TOKENS}kim-script/`)).body.user).toBe(kim.pk);

      // kim may delete her own.
      expect((await t.api("DELETE", `${TOKENS}kim-explicit/`, { token: key })).status).toBe(204);
    });

    test("set_key replaces the key: the old one stops working, the new one works", async () => {
      const { key: oldKey } = await userWithToken("rotated");
      const newKey = "a-new-key-chosen-by-the-admin-0123456789abc";
      const res = await t.api("POST", `${TOKENS}rotated-api/set_key/`, { body: { key: newKey } });
      expect(res.status).toBe(204);
      expect((await me(oldKey)).status).toBe(403);
      expect((await me(newKey)).body.user.username).toBe("rotated");
      expect((await t.api("GET", `${TOKENS}rotated-api/view_key/`)).body.key).toBe(newKey);
      const rotate = await t.api("GET", "/api/v3/events/events/?action=secret_rotate");
      expect(
        rotate.body.results.some(
          (e: { context: { secret: { name: string } } }) => e.context.secret.name === "rotated-api",
        ),
      ).toBe(true);

      expect((await t.api("POST", `${TOKENS}rotated-api/set_key/`, { body: {} })).status).toBe(400);
      expect((await t.api("POST", `${TOKENS}rotated-api/set_key/`, { body: { key: "" } })).status).toBe(400);
      expect(
        (await t.api("POST", `${TOKENS}no-such-token/set_key/`, { body: { key: "k".repeat(50) } })).status,
      ).toBe(404);
      // A key another token already uses is refused.
      const taken = await t.api("POST", `${TOKENS}rotated-api/set_key/`, { body: { key: ADMIN_TOKEN } });
      expect(taken.status).toBe(400);
      expect((await me(newKey)).status).toBe(200);
    });

    test("identifiers are unique and match authentik's pattern", async () => {
      await createToken({ identifier: "taken-id", intent: "api" });
      const dup = await t.api("POST", TOKENS, { body: { identifier: "taken-id", intent: "api" } });
      expect(dup.status).toBe(400);
      expect(dup.body.identifier).toHaveLength(1);
      await createToken({ identifier: "rename-me", intent: "api" });
      const rename = await t.api("PATCH", `${TOKENS}rename-me/`, { body: { identifier: "taken-id" } });
      expect(rename.status).toBe(400);
      expect(rename.body).toHaveProperty("identifier");

      for (const identifier of [
        "has spaces",
        "dots.not.allowed",
        "slash/no",
        "",
        "ümlaut",
        "x".repeat(256),
      ]) {
        const res = await t.api("POST", TOKENS, { body: { identifier, intent: "api" } });
        expect(res.status, identifier).toBe(400);
        expect(res.body, identifier).toHaveProperty("identifier");
      }
      expect((await t.api("POST", TOKENS, { body: { intent: "api" } })).body.identifier).toEqual([
        "This field is required.",
      ]);
      await createToken({ identifier: "Mixed-Case_09", intent: "api" });
      const renamed = await t.api("PATCH", `${TOKENS}rename-me/`, { body: { identifier: "renamed" } });
      expect(renamed.status).toBe(200);
      expect((await t.api("GET", `${TOKENS}renamed/`)).status).toBe(200);
      expect((await t.api("GET", `${TOKENS}rename-me/`)).status).toBe(404);
    });

    test("token writes leave model_* events", async () => {
      const made = await createToken({ identifier: "audited-token", intent: "api" });
      await t.api("PATCH", `${TOKENS}audited-token/`, { body: { description: "changed" } });
      await t.api("DELETE", `${TOKENS}audited-token/`);
      const events = await t.api(
        "GET",
        `/api/v3/events/events/?context_model_name=token&context_model_pk=${made.pk}`,
      );
      expect(events.body.results.map((e: { action: string }) => e.action).sort()).toEqual([
        "model_created",
        "model_deleted",
        "model_updated",
      ]);
      expect(JSON.stringify(events.body)).not.toContain(made.key);
    });
  });
}
