/** Flows, stages, flow-stage bindings, policies, policy bindings and in-progress flow state. */
import type { Kysely } from "kysely";
import { columnTypes, type StoreKind, type StoreMigration } from "./types.ts";

async function up(db: Kysely<unknown>, kind: StoreKind): Promise<void> {
  const t = columnTypes(kind);

  await db.schema
    .createTable("flows")
    .addColumn("flow_uuid", "text", (c) => c.primaryKey())
    .addColumn("slug", "text", (c) => c.notNull().unique())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("title", "text", (c) => c.notNull())
    .addColumn("designation", "text", (c) => c.notNull())
    .addColumn("background", "text", (c) => c.notNull())
    .addColumn("policy_engine_mode", "text", (c) => c.notNull())
    .addColumn("compatibility_mode", t.bool, (c) => c.notNull())
    .addColumn("layout", "text", (c) => c.notNull())
    .addColumn("denied_action", "text", (c) => c.notNull())
    .addColumn("authentication", "text", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("stages")
    .addColumn("stage_uuid", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull().unique())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("config", t.json, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("flow_stage_bindings")
    .addColumn("fsb_uuid", "text", (c) => c.primaryKey())
    .addColumn("target", "text", (c) => c.notNull().references("flows.flow_uuid").onDelete("cascade"))
    .addColumn("stage", "text", (c) => c.notNull().references("stages.stage_uuid").onDelete("cascade"))
    .addColumn("order", "integer", (c) => c.notNull())
    .addColumn("evaluate_on_plan", t.bool, (c) => c.notNull())
    .addColumn("re_evaluate_policies", t.bool, (c) => c.notNull())
    .addColumn("policy_engine_mode", "text", (c) => c.notNull())
    .addColumn("invalid_response_action", "text", (c) => c.notNull())
    .addUniqueConstraint("flow_stage_bindings_unique", ["target", "stage", "order"])
    .execute();
  await db.schema
    .createIndex("flow_stage_bindings_target")
    .on("flow_stage_bindings")
    .column("target")
    .execute();

  await db.schema
    .createTable("policies")
    .addColumn("policy_uuid", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull().unique())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("execution_logging", t.bool, (c) => c.notNull())
    .addColumn("config", t.json, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("policy_bindings")
    .addColumn("policy_binding_uuid", "text", (c) => c.primaryKey())
    // A flow, a flow-stage binding or (later) an application: whatever a policy can be bound to.
    .addColumn("target", "text", (c) => c.notNull())
    .addColumn("policy", "text", (c) => c.references("policies.policy_uuid").onDelete("cascade"))
    .addColumn("group_id", "integer", (c) => c.references("groups.num_pk").onDelete("cascade"))
    .addColumn("user_id", "integer", (c) => c.references("users.id").onDelete("cascade"))
    .addColumn("negate", t.bool, (c) => c.notNull())
    .addColumn("enabled", t.bool, (c) => c.notNull())
    .addColumn("order", "integer", (c) => c.notNull())
    .addColumn("timeout", "integer", (c) => c.notNull())
    .addColumn("failure_result", t.bool, (c) => c.notNull())
    .execute();
  await db.schema.createIndex("policy_bindings_target").on("policy_bindings").column("target").execute();

  await db.schema
    .createTable("flow_states")
    .addColumn("session_hash", "text", (c) => c.notNull())
    .addColumn("flow_slug", "text", (c) => c.notNull())
    .addColumn("plan", t.json, (c) => c.notNull())
    .addColumn("updated", t.timestamp, (c) => c.notNull())
    .addColumn("expires", t.timestamp, (c) => c.notNull())
    .addPrimaryKeyConstraint("flow_states_pk", ["session_hash", "flow_slug"])
    .execute();
  await db.schema.createIndex("flow_states_expires").on("flow_states").column("expires").execute();
}

export const migration0002: StoreMigration = { name: "0002_flows", up };
