import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const GROUPS = "/api/v3/core/groups/";

/** authentik's Group, PartialUser and RelatedGroup fields (schema 2026.2.2). */
const GROUP_FIELDS = [
  "pk",
  "num_pk",
  "name",
  "is_superuser",
  "parents",
  "parents_obj",
  "users",
  "users_obj",
  "attributes",
  "roles",
  "roles_obj",
  "inherited_roles_obj",
  "children",
  "children_obj",
].sort();
const PARTIAL_USER_FIELDS = [
  "pk",
  "username",
  "name",
  "is_active",
  "last_login",
  "email",
  "attributes",
  "uid",
];
const RELATED_GROUP_FIELDS = ["pk", "name", "is_superuser", "attributes", "group_uuid"];

interface Named {
  name: string;
}
const names = (list: Named[]) => list.map((g) => g.name);

for (const backend of backendNames()) {
  describe(`groups API on ${backend}`, () => {
    let t: TestCore;
    beforeAll(async () => {
      t = await startTestCore(backend);
    });
    afterAll(() => t.stop());

    const createGroup = async (body: Record<string, unknown>) => {
      const res = await t.api("POST", GROUPS, { body });
      expect(res.status, res.text).toBe(201);
      return res.body;
    };
    const createUser = async (username: string) => {
      const res = await t.api("POST", "/api/v3/core/users/", { body: { username, name: username } });
      expect(res.status, res.text).toBe(201);
      return res.body as { pk: number; username: string };
    };
    const getGroup = async (pk: string, query = "") => {
      const res = await t.api("GET", `${GROUPS}${pk}/${query}`);
      expect(res.status, res.text).toBe(200);
      return res.body;
    };
    const groupCount = async () => (await t.api("GET", `${GROUPS}?page_size=1`)).body.pagination.count;
    const apiToken = async (user: { pk: number; username: string }) => {
      const res = await t.api("POST", "/api/v3/core/tokens/", {
        body: { identifier: `${user.username}-api`, intent: "api", user: user.pk, expiring: false },
      });
      expect(res.status, res.text).toBe(201);
      return res.body.key as string;
    };

    test("create, read, update and delete a group, in authentik's Group shape", async () => {
      const created = await t.api("POST", GROUPS, {
        body: { name: "crud", attributes: { floor: 2, tags: ["a"] } },
      });
      expect(created.status).toBe(201);
      const group = created.body;
      expect(Object.keys(group).sort()).toEqual(GROUP_FIELDS);
      expect(group.pk).toMatch(UUID);
      expect(Number.isInteger(group.num_pk)).toBe(true);
      expect(group).toMatchObject({
        name: "crud",
        is_superuser: false,
        parents: [],
        parents_obj: null,
        users: [],
        users_obj: [],
        attributes: { floor: 2, tags: ["a"] },
        roles: [],
        roles_obj: [],
        children: [],
        children_obj: null,
      });

      expect(await getGroup(group.pk)).toEqual(group);
      // The path's uuid is matched whatever its case.
      expect((await getGroup(group.pk.toUpperCase())).pk).toBe(group.pk);

      const patched = await t.api("PATCH", `${GROUPS}${group.pk}/`, {
        body: { name: "crud-renamed", is_superuser: true },
      });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({
        pk: group.pk,
        num_pk: group.num_pk,
        name: "crud-renamed",
        is_superuser: true,
        attributes: { floor: 2, tags: ["a"] },
      });

      // PUT with the object as read back (read-only fields included) replaces the writable ones.
      const put = await t.api("PUT", `${GROUPS}${group.pk}/`, {
        body: { ...patched.body, name: "crud-put", is_superuser: false, attributes: { floor: 3 } },
      });
      expect(put.status, put.text).toBe(200);
      expect(put.body).toMatchObject({ name: "crud-put", is_superuser: false, attributes: { floor: 3 } });
      expect((await getGroup(group.pk)).name).toBe("crud-put");

      // PUT without the required name is refused.
      const incomplete = await t.api("PUT", `${GROUPS}${group.pk}/`, { body: { is_superuser: true } });
      expect(incomplete.status).toBe(400);
      expect(incomplete.body.name).toEqual(["This field is required."]);

      expect((await t.api("DELETE", `${GROUPS}${group.pk}/`)).status).toBe(204);
      expect((await t.api("GET", `${GROUPS}${group.pk}/`)).status).toBe(404);
      expect((await t.api("DELETE", `${GROUPS}${group.pk}/`)).status).toBe(404);
      expect((await t.api("PATCH", `${GROUPS}${group.pk}/`, { body: { name: "x" } })).status).toBe(404);
      expect((await t.api("GET", `${GROUPS}not-a-uuid/`)).status).toBe(404);
    });

    test("bad bodies get field errors and create nothing", async () => {
      const before = await groupCount();
      const cases: [unknown, string][] = [
        [{}, "name"],
        [{ name: "" }, "name"],
        [{ name: 7 }, "name"],
        [{ name: "bad-su", is_superuser: "yes" }, "is_superuser"],
        [{ name: "bad-attrs", attributes: [1] }, "attributes"],
        [{ name: "bad-parent", parents: ["not-a-uuid"] }, "parents"],
        [{ name: "bad-users", users: ["one"] }, "users"],
        [{ name: "bad-field", colour: "red" }, "colour"],
        [[{ name: "list" }], "non_field_errors"],
      ];
      for (const [body, field] of cases) {
        const res = await t.api("POST", GROUPS, { body });
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body, JSON.stringify(body)).toHaveProperty(field);
      }
      expect(await groupCount()).toBe(before);
    });

    test("names are unique: a duplicate or a rename onto a taken name gets 400 {name}", async () => {
      const first = await createGroup({ name: "unique-one" });
      const second = await createGroup({ name: "unique-two" });
      const before = await groupCount();
      const dup = await t.api("POST", GROUPS, { body: { name: "unique-one" } });
      expect(dup.status).toBe(400);
      expect(Object.keys(dup.body)).toEqual(["name"]);
      expect(dup.body.name).toHaveLength(1);
      expect(await groupCount()).toBe(before);

      const rename = await t.api("PATCH", `${GROUPS}${second.pk}/`, { body: { name: "unique-one" } });
      expect(rename.status).toBe(400);
      expect(rename.body).toHaveProperty("name");
      expect((await getGroup(second.pk)).name).toBe("unique-two");
      // Keeping one's own name is not a clash.
      const same = await t.api("PATCH", `${GROUPS}${first.pk}/`, { body: { name: "unique-one" } });
      expect(same.status).toBe(200);
    });

    test("a group has several parents; children and the *_obj expansions are computed", async () => {
      const left = await createGroup({ name: "tree-left", attributes: { side: "l" } });
      const right = await createGroup({ name: "tree-right", is_superuser: false });
      const child = await createGroup({ name: "tree-child", parents: [left.pk, right.pk] });
      expect([...child.parents].sort()).toEqual([left.pk, right.pk].sort());
      expect(child.parents_obj).toBeNull();

      const withParents = await getGroup(child.pk, "?include_parents=true");
      expect(names(withParents.parents_obj)).toEqual(["tree-left", "tree-right"]);
      for (const related of withParents.parents_obj) {
        expect(Object.keys(related).sort()).toEqual([...RELATED_GROUP_FIELDS].sort());
        expect(related.group_uuid).toBe(related.pk);
      }
      expect(withParents.parents_obj[0].attributes).toEqual({ side: "l" });

      const leftRead = await getGroup(left.pk);
      expect(leftRead.children).toEqual([child.pk]);
      expect(leftRead.children_obj).toBeNull();
      const leftWithChildren = await getGroup(left.pk, "?include_children=true");
      expect(names(leftWithChildren.children_obj)).toEqual(["tree-child"]);
      expect(Object.keys(leftWithChildren.children_obj[0]).sort()).toEqual([...RELATED_GROUP_FIELDS].sort());
      expect((await getGroup(right.pk)).children).toEqual([child.pk]);

      // The list expands the same way.
      const listed = await t.api(
        "GET",
        `${GROUPS}?name=tree-left&include_children=true&include_parents=true`,
      );
      expect(listed.body.results[0].parents_obj).toEqual([]);
      expect(names(listed.body.results[0].children_obj)).toEqual(["tree-child"]);

      // Dropping a parent updates both sides.
      const moved = await t.api("PATCH", `${GROUPS}${child.pk}/`, { body: { parents: [right.pk] } });
      expect(moved.status).toBe(200);
      expect(moved.body.parents).toEqual([right.pk]);
      expect((await getGroup(left.pk)).children).toEqual([]);

      const unknown = await t.api("PATCH", `${GROUPS}${child.pk}/`, {
        body: { parents: ["00000000-0000-4000-8000-000000000000"] },
      });
      expect(unknown.status).toBe(400);
      expect(unknown.body.parents[0]).toContain("00000000-0000-4000-8000-000000000000");
      expect((await getGroup(child.pk)).parents).toEqual([right.pk]);
    });

    test("parent cycles are refused with 400 and change nothing", async () => {
      const a = await createGroup({ name: "cycle-a" });
      const b = await createGroup({ name: "cycle-b", parents: [a.pk] });
      const c = await createGroup({ name: "cycle-c", parents: [b.pk] });

      const self = await t.api("PATCH", `${GROUPS}${a.pk}/`, { body: { parents: [a.pk] } });
      expect(self.status).toBe(400);
      expect(self.body.parents[0]).toMatch(/cycle/);

      // A → B → C; making C (a descendant of A) A's parent would close a loop.
      const loop = await t.api("PATCH", `${GROUPS}${a.pk}/`, {
        body: { name: "cycle-a-renamed", parents: [c.pk] },
      });
      expect(loop.status).toBe(400);
      expect(loop.body).toHaveProperty("parents");
      const direct = await t.api("PUT", `${GROUPS}${b.pk}/`, { body: { name: "cycle-b", parents: [c.pk] } });
      expect(direct.status).toBe(400);

      const aNow = await getGroup(a.pk);
      expect(aNow.name).toBe("cycle-a");
      expect(aNow.parents).toEqual([]);
      expect((await getGroup(b.pk)).parents).toEqual([a.pk]);
      expect((await getGroup(c.pk)).parents).toEqual([b.pk]);
      const events = await t.api(
        "GET",
        `/api/v3/events/events/?context_model_name=group&context_model_pk=${a.pk}`,
      );
      expect(events.body.results.map((e: { action: string }) => e.action)).toEqual(["model_created"]);

      // A sibling as an extra parent is fine: several parents are not a cycle.
      const ok = await t.api("PATCH", `${GROUPS}${c.pk}/`, { body: { parents: [b.pk, a.pk] } });
      expect(ok.status).toBe(200);
    });

    test("users replaces the member list; users_obj holds PartialUsers", async () => {
      const u1 = await createUser("member-one");
      const u2 = await createUser("member-two");
      const u3 = await createUser("member-three");
      const group = await createGroup({ name: "members", users: [u1.pk, u2.pk, u2.pk] });
      expect(group.users).toEqual([u1.pk, u2.pk]);
      expect(group.users_obj.map((u: { username: string }) => u.username)).toEqual([
        "member-one",
        "member-two",
      ]);
      expect(Object.keys(group.users_obj[0]).sort()).toEqual([...PARTIAL_USER_FIELDS].sort());

      const replaced = await t.api("PATCH", `${GROUPS}${group.pk}/`, { body: { users: [u3.pk, u2.pk] } });
      expect(replaced.status).toBe(200);
      expect([...replaced.body.users].sort((x: number, y: number) => x - y)).toEqual(
        [u2.pk, u3.pk].sort((x, y) => x - y),
      );
      const u1Read = await t.api("GET", `/api/v3/core/users/${u1.pk}/`);
      expect(u1Read.body.groups).toEqual([]);
      expect((await t.api("GET", `/api/v3/core/users/${u3.pk}/`)).body.groups).toEqual([group.pk]);

      // A PATCH that leaves users out leaves the members alone.
      await t.api("PATCH", `${GROUPS}${group.pk}/`, { body: { attributes: { x: 1 } } });
      expect((await getGroup(group.pk)).users).toHaveLength(2);

      const unknown = await t.api("PATCH", `${GROUPS}${group.pk}/`, { body: { users: [u1.pk, 987654] } });
      expect(unknown.status).toBe(400);
      expect(unknown.body.users[0]).toContain("987654");
      expect((await getGroup(group.pk)).users).toHaveLength(2);

      const emptied = await t.api("PATCH", `${GROUPS}${group.pk}/`, { body: { users: [] } });
      expect(emptied.body.users).toEqual([]);
      expect(emptied.body.users_obj).toEqual([]);
    });

    test("add_user and remove_user answer 204, are idempotent, and 404 an unknown user", async () => {
      const user = await createUser("adder");
      const group = await createGroup({ name: "add-remove" });
      const add = () => t.api("POST", `${GROUPS}${group.pk}/add_user/`, { body: { pk: user.pk } });
      const first = await add();
      expect(first.status).toBe(204);
      expect(first.text).toBe("");
      expect((await add()).status).toBe(204);
      expect((await getGroup(group.pk)).users).toEqual([user.pk]);
      expect((await t.api("GET", `/api/v3/core/users/${user.pk}/`)).body.groups).toEqual([group.pk]);

      const unknown = await t.api("POST", `${GROUPS}${group.pk}/add_user/`, { body: { pk: 987654 } });
      expect(unknown.status).toBe(404);
      expect(unknown.body.detail).toBeString();
      const noGroup = await t.api("POST", `${GROUPS}00000000-0000-4000-8000-000000000000/add_user/`, {
        body: { pk: user.pk },
      });
      expect(noGroup.status).toBe(404);
      const noPk = await t.api("POST", `${GROUPS}${group.pk}/add_user/`, { body: {} });
      expect(noPk.status).toBe(400);
      expect(noPk.body).toHaveProperty("pk");

      const remove = () => t.api("POST", `${GROUPS}${group.pk}/remove_user/`, { body: { pk: user.pk } });
      expect((await remove()).status).toBe(204);
      expect((await getGroup(group.pk)).users).toEqual([]);
      expect((await remove()).status).toBe(204);
      expect(
        (await t.api("POST", `${GROUPS}${group.pk}/remove_user/`, { body: { pk: 987654 } })).status,
      ).toBe(404);
    });

    test("include_users=false answers users_obj: null but still lists the member pks", async () => {
      const user = await createUser("includer");
      const group = await createGroup({ name: "include-users", users: [user.pk] });
      const without = await getGroup(group.pk, "?include_users=false");
      expect(without.users).toEqual([user.pk]);
      expect(without.users_obj).toBeNull();
      const listed = await t.api("GET", `${GROUPS}?name=include-users&include_users=false`);
      expect(listed.body.results[0].users_obj).toBeNull();
      expect((await getGroup(group.pk, "?include_users=true")).users_obj[0].pk).toBe(user.pk);
      expect((await t.api("GET", `${GROUPS}${group.pk}/?include_users=perhaps`)).status).toBe(400);
    });

    test("list filters: name, is_superuser, members_by_username, members_by_pk, search", async () => {
      const ann = await createUser("filter-ann");
      const bob = await createUser("filter-bob");
      await createGroup({ name: "filter-red", users: [ann.pk] });
      await createGroup({ name: "filter-green", users: [bob.pk], is_superuser: true });
      await createGroup({ name: "filter-blue", users: [ann.pk, bob.pk] });
      await createGroup({ name: "Filter_Odd" });
      const list = async (query: string) => {
        const res = await t.api("GET", `${GROUPS}?page_size=1000&${query}`);
        expect(res.status, `${query}: ${res.text}`).toBe(200);
        return names(res.body.results);
      };

      expect(await list("name=filter-red")).toEqual(["filter-red"]);
      expect(await list("name=filter")).toEqual([]);
      expect(await list("search=filter&is_superuser=true")).toEqual(["filter-green"]);
      expect(await list("search=filter&is_superuser=false")).toEqual([
        "Filter_Odd",
        "filter-blue",
        "filter-red",
      ]);
      expect(await list("members_by_username=filter-ann")).toEqual(["filter-blue", "filter-red"]);
      expect(await list("members_by_username=filter-ann&members_by_username=filter-bob")).toEqual([
        "filter-blue",
        "filter-green",
        "filter-red",
      ]);
      expect(await list("members_by_username=nobody")).toEqual([]);
      expect(await list(`members_by_pk=${bob.pk}`)).toEqual(["filter-blue", "filter-green"]);
      expect(await list(`members_by_pk=${bob.pk}&members_by_pk=${ann.pk}&name=filter-red`)).toEqual([
        "filter-red",
      ]);
      expect((await t.api("GET", `${GROUPS}?members_by_pk=bob`)).status).toBe(400);
      expect((await t.api("GET", `${GROUPS}?is_superuser=sometimes`)).status).toBe(400);

      // search is a case-insensitive substring of the name; LIKE wildcards are literal.
      expect(await list("search=FILTER-")).toEqual(["filter-blue", "filter-green", "filter-red"]);
      expect(await list("search=er_o")).toEqual(["Filter_Odd"]);
      expect(await list("search=r_")).toEqual(["Filter_Odd"]);
      expect(await list("search=%25")).toEqual([]);
      expect(await list("search=filter&ordering=-name")).toEqual([
        "filter-red",
        "filter-green",
        "filter-blue",
        "Filter_Odd",
      ]);
    });

    test("pagination follows authentik's envelope", async () => {
      for (let i = 0; i < 5; i++) await createGroup({ name: `page-${i}` });
      const first = await t.api("GET", `${GROUPS}?search=page-&page_size=2`);
      expect(Object.keys(first.body).sort()).toEqual(["autocomplete", "pagination", "results"]);
      expect(first.body.pagination).toEqual({
        next: 2,
        previous: 0,
        count: 5,
        current: 1,
        total_pages: 3,
        start_index: 1,
        end_index: 2,
      });
      const seen: string[] = [];
      let page = 1;
      while (page) {
        const res = await t.api("GET", `${GROUPS}?search=page-&page_size=2&page=${page}`);
        seen.push(...names(res.body.results));
        page = res.body.pagination.next;
      }
      expect(seen).toEqual(["page-0", "page-1", "page-2", "page-3", "page-4"]);
      const last = await t.api("GET", `${GROUPS}?search=page-&page_size=2&page=3`);
      expect(last.body.pagination).toMatchObject({ previous: 2, next: 0, start_index: 5, end_index: 5 });
      expect((await t.api("GET", `${GROUPS}?search=page-&page_size=2&page=4`)).status).toBe(404);
      expect((await t.api("GET", `${GROUPS}?page=0`)).status).toBe(404);
      expect((await t.api("GET", `${GROUPS}?page_size=lots`)).status).toBe(400);
      const none = await t.api("GET", `${GROUPS}?name=no-such-group`);
      expect(none.body.pagination).toMatchObject({ count: 0, total_pages: 1, start_index: 0, end_index: 0 });
    });

    test("is_superuser is inherited by members of a child (and grandchild) of a superuser group", async () => {
      const root = await createGroup({ name: "su-root", is_superuser: true });
      const mid = await createGroup({ name: "su-mid", parents: [root.pk] });
      const leaf = await createGroup({ name: "su-leaf", parents: [mid.pk] });
      const midUser = await createUser("su-mid-user");
      const leafUser = await createUser("su-leaf-user");
      const outsider = await createUser("su-outsider");
      await t.api("POST", `${GROUPS}${mid.pk}/add_user/`, { body: { pk: midUser.pk } });
      await t.api("POST", `${GROUPS}${leaf.pk}/add_user/`, { body: { pk: leafUser.pk } });
      const isSuper = async (pk: number) =>
        (await t.api("GET", `/api/v3/core/users/${pk}/`)).body.is_superuser as boolean;

      expect(await isSuper(midUser.pk)).toBe(true);
      expect(await isSuper(leafUser.pk)).toBe(true);
      expect(await isSuper(outsider.pk)).toBe(false);
      // The group itself keeps its own flag; only its members inherit.
      expect((await getGroup(leaf.pk)).is_superuser).toBe(false);

      // The inherited right is real: the leaf user's token may create groups.
      const key = await apiToken(leafUser);
      const made = await t.api("POST", GROUPS, { token: key, body: { name: "made-by-leaf" } });
      expect(made.status).toBe(201);

      // Cutting the link takes it away at once.
      await t.api("PATCH", `${GROUPS}${mid.pk}/`, { body: { parents: [] } });
      expect(await isSuper(midUser.pk)).toBe(false);
      expect(await isSuper(leafUser.pk)).toBe(false);
      expect((await t.api("POST", GROUPS, { token: key, body: { name: "denied" } })).status).toBe(403);
    });

    test("deleting a group removes its memberships and its children's links to it", async () => {
      const user = await createUser("cascade-user");
      const doomed = await createGroup({ name: "cascade-doomed", users: [user.pk] });
      const kept = await createGroup({ name: "cascade-kept", users: [user.pk] });
      const child = await createGroup({ name: "cascade-child", parents: [doomed.pk, kept.pk] });

      expect((await t.api("DELETE", `${GROUPS}${doomed.pk}/`)).status).toBe(204);
      expect((await t.api("GET", `/api/v3/core/users/${user.pk}/`)).body.groups).toEqual([kept.pk]);
      expect((await getGroup(child.pk)).parents).toEqual([kept.pk]);
      expect((await t.api("GET", `${GROUPS}?members_by_pk=${user.pk}`)).body.pagination.count).toBe(1);
      const rows = await t.core.ctx.store.db
        .selectFrom("group_members")
        .select("user_id")
        .where("group_id", "=", doomed.num_pk)
        .execute();
      expect(rows).toEqual([]);
      const links = await t.core.ctx.store.db
        .selectFrom("group_parents")
        .select("group_id")
        .where("parent_id", "=", doomed.num_pk)
        .execute();
      expect(links).toEqual([]);
      // The user survives the group.
      expect((await t.api("GET", `/api/v3/core/users/${user.pk}/`)).status).toBe(200);
    });

    test("every write leaves a model_* event naming the group", async () => {
      const user = await createUser("audited-user");
      const group = await createGroup({ name: "audited" });
      await t.api("PATCH", `${GROUPS}${group.pk}/`, { body: { name: "audited-2" } });
      await t.api("PUT", `${GROUPS}${group.pk}/`, { body: { name: "audited-3" } });
      await t.api("POST", `${GROUPS}${group.pk}/add_user/`, { body: { pk: user.pk } });
      await t.api("POST", `${GROUPS}${group.pk}/remove_user/`, { body: { pk: user.pk } });
      await t.api("DELETE", `${GROUPS}${group.pk}/`);

      const res = await t.api(
        "GET",
        `/api/v3/events/events/?context_model_name=group&context_model_pk=${group.pk}&page_size=100`,
      );
      expect(res.status).toBe(200);
      const events = res.body.results as {
        action: string;
        app: string;
        user: { username: string };
        context: { model: Record<string, unknown>; http_request: { method: string } };
      }[];
      const actions = events.map((e) => e.action).sort();
      expect(actions).toEqual([
        "model_created",
        "model_deleted",
        "model_updated",
        "model_updated",
        "model_updated",
        "model_updated",
      ]);
      for (const e of events) {
        expect(e.user.username).toBe("akadmin");
        expect(e.context.model).toMatchObject({ app: "authentik_core", model_name: "group", pk: group.pk });
      }
      const created = events.find((e) => e.action === "model_created");
      expect(created?.context.model.name).toBe("audited");
      expect(created?.context.http_request.method).toBe("POST");
      const deleted = events.find((e) => e.action === "model_deleted");
      expect(deleted?.context.model.name).toBe("audited-3");

      // A refused write leaves no event.
      const other = await createGroup({ name: "audited-other" });
      await t.api("PATCH", `${GROUPS}${other.pk}/`, { body: { parents: [other.pk] } });
      const otherEvents = await t.api(
        "GET",
        `/api/v3/events/events/?context_model_name=group&context_model_pk=${other.pk}`,
      );
      expect(otherEvents.body.results.map((e: { action: string }) => e.action)).toEqual(["model_created"]);
    });

    test("a non-superuser sees only the groups they are in and cannot write", async () => {
      const plain = await createUser("group-plain");
      const mine = await createGroup({ name: "plain-mine", users: [plain.pk] });
      const parent = await createGroup({ name: "plain-parent" });
      const theirs = await createGroup({ name: "plain-theirs" });
      await t.api("PATCH", `${GROUPS}${mine.pk}/`, { body: { parents: [parent.pk] } });
      const token = await apiToken(plain);

      const list = await t.api("GET", `${GROUPS}?page_size=1000`, { token });
      expect(list.status).toBe(200);
      expect(names(list.body.results)).toEqual(["plain-mine"]);
      expect(list.body.pagination.count).toBe(1);
      expect((await t.api("GET", `${GROUPS}?name=plain-theirs`, { token })).body.results).toEqual([]);
      expect((await t.api("GET", `${GROUPS}${mine.pk}/`, { token })).status).toBe(200);
      // Being in a child group does not reveal the parent.
      expect((await t.api("GET", `${GROUPS}${parent.pk}/`, { token })).status).toBe(404);
      expect((await t.api("GET", `${GROUPS}${theirs.pk}/`, { token })).status).toBe(404);

      const before = await groupCount();
      const writes: [string, string, unknown][] = [
        ["POST", GROUPS, { name: "plain-new" }],
        ["PATCH", `${GROUPS}${mine.pk}/`, { name: "plain-hacked" }],
        ["PUT", `${GROUPS}${mine.pk}/`, { name: "plain-hacked" }],
        ["PATCH", `${GROUPS}${theirs.pk}/`, { users: [plain.pk] }],
        ["DELETE", `${GROUPS}${mine.pk}/`, undefined],
        ["POST", `${GROUPS}${theirs.pk}/add_user/`, { pk: plain.pk }],
        ["POST", `${GROUPS}${mine.pk}/remove_user/`, { pk: plain.pk }],
        ["PATCH", `${GROUPS}${mine.pk}/`, { is_superuser: true }],
      ];
      for (const [method, path, body] of writes) {
        const res = await t.api(method, path, { token, body });
        expect(res.status, `${method} ${path}`).toBe(403);
        expect(res.body.detail).toBeString();
      }
      expect(await groupCount()).toBe(before);
      const mineNow = await getGroup(mine.pk);
      expect(mineNow).toMatchObject({ name: "plain-mine", is_superuser: false, users: [plain.pk] });
      expect((await getGroup(theirs.pk)).users).toEqual([]);
      expect((await t.api("GET", GROUPS, { token: null })).status).toBe(403);
    });

    test("an LDAP outpost's account reads every group, in the list and one by one, but writes none", async () => {
      const flow = async (slug: string) => (await t.api("GET", `/api/v3/flows/instances/${slug}/`)).body.pk;
      const provider = await t.api("POST", "/api/v3/providers/ldap/", {
        body: {
          name: "groups-directory",
          authorization_flow: await flow("default-authentication-flow"),
          invalidation_flow: await flow("default-invalidation-flow"),
        },
      });
      expect(provider.status, provider.text).toBe(201);
      const outpost = await t.api("POST", "/api/v3/outposts/instances/", {
        body: { name: "groups-ldap", type: "ldap", providers: [provider.body.pk], config: {} },
      });
      expect(outpost.status, outpost.text).toBe(201);
      const token = (await t.api("GET", `/api/v3/core/tokens/${outpost.body.token_identifier}/view_key/`))
        .body.key as string;
      const group = await createGroup({ name: "ldap-visible" });

      const listed = await t.api("GET", `${GROUPS}?name=ldap-visible`, { token });
      expect(names(listed.body.results)).toEqual(["ldap-visible"]);
      const read = await t.api("GET", `${GROUPS}${group.pk}/`, { token });
      expect(read.status).toBe(200);
      expect(read.body.name).toBe("ldap-visible");
      expect((await t.api("PATCH", `${GROUPS}${group.pk}/`, { token, body: { name: "x" } })).status).toBe(
        403,
      );
    });
  });
}
