import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";

const PARTNER = `
version: 1
metadata:
  name: Partner login
context:
  denied_group: contractors
entries:
  - model: authentik_core.group
    id: contractors
    identifiers:
      name: !Context denied_group
  - model: authentik_flows.flow
    id: flow
    identifiers:
      slug: partner-login
    attrs:
      name: Partner login
      title: !Format ["%s portal", Partner]
      designation: authentication
  - model: authentik_stages_password.passwordstage
    id: password
    identifiers:
      name: partner-password
    attrs:
      backends: [authentik.core.auth.InbuiltBackend]
  - model: authentik_stages_identification.identificationstage
    id: ident
    identifiers:
      name: partner-ident
    attrs:
      user_fields: [username]
      password_stage: !KeyOf password
  - model: authentik_stages_deny.denystage
    id: deny
    identifiers:
      name: partner-deny
    attrs:
      deny_message: Contractors use the contractor portal.
  - model: authentik_stages_user_login.userloginstage
    id: login
    identifiers:
      name: partner-login-stage
  - model: authentik_flows.flowstagebinding
    identifiers: { target: !KeyOf flow, stage: !KeyOf ident, order: 10 }
  - model: authentik_flows.flowstagebinding
    id: deny-binding
    identifiers: { target: !KeyOf flow, stage: !KeyOf deny, order: 20 }
  - model: authentik_flows.flowstagebinding
    identifiers: { target: !KeyOf flow, stage: !KeyOf login, order: 30 }
  - model: authentik_policies_expression.expressionpolicy
    id: is-contractor
    identifiers:
      name: partner-is-contractor
    attrs:
      expression: 'ak_is_group_member(request.user, "contractors")'
  - model: authentik_policies.policybinding
    identifiers: { target: !KeyOf deny-binding, policy: !KeyOf is-contractor, order: 0 }
`;

for (const backend of backendNames()) {
  describe(`blueprints on ${backend}`, () => {
    let t: TestCore;
    let extraDir: string;
    const client = () => new FlowClient((r) => t.core.app.handle(r));
    const counts = async () => {
      const db = t.core.ctx.store.db;
      const n = async (
        table: "flows" | "stages" | "flow_stage_bindings" | "policies" | "policy_bindings" | "groups",
      ) =>
        Number(
          (
            await db
              .selectFrom(table)
              .select((eb) => eb.fn.countAll<number>().as("n"))
              .executeTakeFirstOrThrow()
          ).n,
        );
      return {
        flows: await n("flows"),
        stages: await n("stages"),
        bindings: await n("flow_stage_bindings"),
        policies: await n("policies"),
        policyBindings: await n("policy_bindings"),
        groups: await n("groups"),
      };
    };
    const instance = async (name: string, content: string) => {
      const res = await t.api("POST", "/api/v3/managed/blueprints/", { body: { name, content } });
      expect(res.status, res.text).toBe(201);
      return res.body.pk as string;
    };

    beforeAll(async () => {
      extraDir = mkdtempSync(join(tmpdir(), "gatehouse-blueprints-"));
      writeFileSync(
        join(extraDir, "ops.yaml"),
        "version: 1\nmetadata: {name: Ops group}\nentries:\n  - model: authentik_core.group\n    identifiers: {name: ops}\n    attrs: {attributes: {oncall: true}}\n",
      );
      writeFileSync(
        join(extraDir, "broken.yaml"),
        "version: 1\nentries:\n  - model: authentik_core.nothing\n    identifiers: {name: x}\n",
      );
      t = await startTestCore(backend, { blueprints_dir: extraDir });
      for (const [username, groups] of [
        ["hank", []],
        ["ivy", []],
      ] as const) {
        const u = await t.api("POST", "/api/v3/core/users/", { body: { username, name: username, groups } });
        await t.api("POST", `/api/v3/core/users/${u.body.pk}/set_password/`, {
          body: { password: `${username}-password` },
        });
      }
    });
    afterAll(() => t.stop());

    test("files in blueprints_dir are applied at start; a broken one does not stop the core", async () => {
      const ops = await t.api("GET", "/api/v3/core/groups/?name=ops");
      expect(ops.body.results[0].attributes).toEqual({ oncall: true });
      const list = await t.api("GET", "/api/v3/managed/blueprints/?ordering=path");
      const byPath = Object.fromEntries(
        list.body.results.map((b: { path: string; status: string }) => [b.path, b.status]),
      );
      expect(byPath["ops.yaml"]).toBe("successful");
      expect(byPath["broken.yaml"]).toBe("error");
      const builtIn = Object.entries(byPath).filter(([path]) => path.startsWith("default/"));
      expect(builtIn.length).toBeGreaterThanOrEqual(10);
      for (const [path, status] of builtIn) expect(`${path}: ${status}`).toBe(`${path}: successful`);
      const available = await t.api("GET", "/api/v3/managed/blueprints/available/");
      expect(available.body.map((f: { path: string }) => f.path)).toContain("ops.yaml");
    });

    test("a blueprint makes a flow whose expression policy denies a group; re-applying changes nothing", async () => {
      const pk = await instance("partner", PARTNER);
      const applied = await t.api("POST", `/api/v3/managed/blueprints/${pk}/apply/`);
      expect(applied.status, applied.text).toBe(200);
      expect(applied.body.status).toBe("successful");
      expect(applied.body.managed_models).toContain("authentik_flows.flow");
      expect((await t.api("GET", "/api/v3/flows/instances/partner-login/")).body.title).toBe(
        "Partner portal",
      );

      const contractors = (await t.api("GET", "/api/v3/core/groups/?name=contractors")).body.results[0];
      const ivy = (await t.api("GET", "/api/v3/core/users/?username=ivy")).body.results[0];
      await t.api("POST", `/api/v3/core/groups/${contractors.pk}/add_user/`, { body: { pk: ivy.pk } });
      expect((await client().login("partner-login", "hank", "hank-password")).component).toBe(
        "xak-flow-redirect",
      );
      const denied = await client().login("partner-login", "ivy", "ivy-password");
      expect(denied).toMatchObject({
        component: "ak-stage-access-denied",
        error_message: "Contractors use the contractor portal.",
      });

      const before = await counts();
      const flowBefore = (await t.api("GET", "/api/v3/flows/instances/partner-login/")).body;
      const again = await t.api("POST", `/api/v3/managed/blueprints/${pk}/apply/`);
      expect(again.body.status).toBe("successful");
      expect(await counts()).toEqual(before);
      expect((await t.api("GET", "/api/v3/flows/instances/partner-login/")).body).toEqual(flowBefore);
    });

    test("a broken blueprint changes nothing and says which entry failed", async () => {
      const before = await counts();
      const broken = PARTNER.replaceAll("partner", "rival").replace(
        "  - model: authentik_policies_expression.expressionpolicy",
        "  - model: authentik_stages_user_login.userloginstage\n    identifiers: {name: rival-bad}\n    attrs: {session_duration: 12, colour: blue}\n  - model: authentik_policies_expression.expressionpolicy",
      );
      const pk = await instance("rival", broken);
      const res = await t.api("POST", `/api/v3/managed/blueprints/${pk}/apply/`);
      expect(res.status).toBe(400);
      expect(res.body.content[0]).toMatch(/entry 10 \(authentik_stages_user_login\.userloginstage\)/);
      expect(await counts()).toEqual(before);
      expect((await t.api("GET", "/api/v3/flows/instances/rival-login/")).status).toBe(404);
      expect((await t.api("GET", `/api/v3/managed/blueprints/${pk}/`)).body.status).toBe("error");
      const events = await t.api("GET", "/api/v3/events/events/?action=configuration_error");
      expect(
        events.body.results.some((e: { context: { blueprint?: string } }) => e.context.blueprint === "rival"),
      ).toBe(true);
    });

    test("unsupported models and tags are named; nothing is stored", async () => {
      const tag = await t.api("POST", "/api/v3/managed/blueprints/", {
        body: {
          name: "tagged",
          content:
            "version: 1\nentries:\n  - model: authentik_core.group\n    identifiers: {name: !File /etc/passwd}\n",
        },
      });
      expect(tag.status).toBe(400);
      expect(tag.body.content[0]).toMatch(/unsupported tag !File/);
      const pk = await instance(
        "unknown-model",
        "version: 1\nentries:\n  - model: authentik_providers_saml.samlprovider\n    identifiers: {name: x}\n",
      );
      const res = await t.api("POST", `/api/v3/managed/blueprints/${pk}/apply/`);
      expect(res.status).toBe(400);
      expect(res.body.detail ?? res.body.content?.[0]).toMatch(
        /authentik_providers_saml\.samlprovider is not supported/,
      );
    });

    test("!Env, !If, !Find and state: absent", async () => {
      process.env.BLUEPRINT_TEST_GROUP = "from-env";
      const pk = await instance(
        "tags",
        `version: 1
entries:
  - model: authentik_core.group
    identifiers: {name: !Env [BLUEPRINT_TEST_GROUP, fallback]}
    attrs: {is_superuser: !If [false, true, false]}
  - model: authentik_core.group
    identifiers: {name: child-of-env}
    attrs: {parents: [!Find [authentik_core.group, [name, from-env]]]}
`,
      );
      expect((await t.api("POST", `/api/v3/managed/blueprints/${pk}/apply/`)).status).toBe(200);
      delete process.env.BLUEPRINT_TEST_GROUP;
      const child = (await t.api("GET", "/api/v3/core/groups/?name=child-of-env")).body.results[0];
      const parent = (await t.api("GET", "/api/v3/core/groups/?name=from-env")).body.results[0];
      expect(child.parents).toEqual([parent.pk]);
      expect(parent.is_superuser).toBe(false);

      const gone = await instance(
        "remove",
        "version: 1\nentries:\n  - model: authentik_core.group\n    state: absent\n    identifiers: {name: child-of-env}\n",
      );
      expect((await t.api("POST", `/api/v3/managed/blueprints/${gone}/apply/`)).status).toBe(200);
      expect((await t.api("GET", "/api/v3/core/groups/?name=child-of-env")).body.pagination.count).toBe(0);
    });
  });
}
