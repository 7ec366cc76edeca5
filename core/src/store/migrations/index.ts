import { migration0001 } from "./0001_core.ts";
import { migration0002 } from "./0002_flows.ts";
import { migration0003 } from "./0003_authenticators.ts";
import { migration0004 } from "./0004_brands.ts";
import { migration0005 } from "./0005_blueprints.ts";
import { migration0006 } from "./0006_reputation.ts";
import { migration0007 } from "./0007_prompts_invitations.ts";
import { migration0008 } from "./0008_outposts.ts";
import { migration0009 } from "./0009_rbac.ts";
import { migration0010 } from "./0010_applications.ts";
import { migration0011 } from "./0011_certificates.ts";
import { migration0012 } from "./0012_property_mappings.ts";
import { migration0013 } from "./0013_scope_mappings.ts";
import { migration0014 } from "./0014_oauth2_tokens.ts";
import { migration0015 } from "./0015_oauth2_grants.ts";
import { migration0016 } from "./0016_proxy_sessions.ts";
import { migration0017 } from "./0017_session_amr.ts";
import { migration0018 } from "./0018_device_code_amr.ts";
import type { StoreMigration } from "./types.ts";

/** Every migration the code knows, in order. Append only; never edit one that has shipped. */
export const migrations: readonly StoreMigration[] = [
  migration0001,
  migration0002,
  migration0003,
  migration0004,
  migration0005,
  migration0006,
  migration0007,
  migration0008,
  migration0009,
  migration0010,
  migration0011,
  migration0012,
  migration0013,
  migration0014,
  migration0015,
  migration0016,
  migration0017,
  migration0018,
];
