/**
 * Table shapes shared by both back ends. Column conventions (see codec.ts): timestamps are ISO-8601 text
 * on SQLite and timestamptz on PostgreSQL; JSON is text on SQLite and jsonb on PostgreSQL; booleans are
 * 0/1 on SQLite and boolean on PostgreSQL. Rows are read through codec.ts so callers see one shape.
 */
import type { ColumnType, Generated } from "kysely";

type Timestamp = ColumnType<string | Date, string, string>;
type NullableTimestamp = ColumnType<string | Date | null, string | null, string | null>;
type Bool = ColumnType<boolean | number, boolean, boolean>;
type Json = ColumnType<unknown, Record<string, unknown>, Record<string, unknown>>;

export interface UsersTable {
  id: Generated<number>;
  uuid: string;
  username: string;
  name: string;
  email: string;
  password: string | null;
  password_change_date: Timestamp;
  is_active: Bool;
  type: string;
  path: string;
  attributes: Json;
  last_login: NullableTimestamp;
  date_joined: Timestamp;
  last_updated: Timestamp;
}

export interface GroupsTable {
  num_pk: Generated<number>;
  group_uuid: string;
  name: string;
  is_superuser: Bool;
  attributes: Json;
}

export interface GroupParentsTable {
  group_id: number;
  parent_id: number;
}

export interface GroupMembersTable {
  group_id: number;
  user_id: number;
}

export interface TokensTable {
  token_uuid: string;
  identifier: string;
  key_hash: string;
  key_sealed: string;
  intent: string;
  user_id: number;
  description: string;
  expires: NullableTimestamp;
  expiring: Bool;
  managed: string | null;
  created: Timestamp;
}

export interface SessionsTable {
  session_hash: string;
  uuid: string;
  user_id: number;
  expires: Timestamp;
  created: Timestamp;
  last_used: Timestamp;
  last_ip: string;
  last_user_agent: string;
  /** How the user authenticated (OIDC `amr` values, space-separated), when known. */
  amr: string | null;
}

export interface EventsTable {
  event_uuid: string;
  action: string;
  app: string;
  user: Json;
  context: Json;
  client_ip: string | null;
  brand: Json;
  created: Timestamp;
  expires: Timestamp;
}

export interface SettingsTable {
  key: string;
  value: string;
}

export interface FlowsTable {
  flow_uuid: string;
  slug: string;
  name: string;
  title: string;
  designation: string;
  background: string;
  policy_engine_mode: string;
  compatibility_mode: Bool;
  layout: string;
  denied_action: string;
  authentication: string;
}

export interface StagesTable {
  stage_uuid: string;
  name: string;
  kind: string;
  config: Json;
}

export interface FlowStageBindingsTable {
  fsb_uuid: string;
  target: string;
  stage: string;
  order: number;
  evaluate_on_plan: Bool;
  re_evaluate_policies: Bool;
  policy_engine_mode: string;
  invalid_response_action: string;
}

export interface PoliciesTable {
  policy_uuid: string;
  name: string;
  kind: string;
  execution_logging: Bool;
  config: Json;
}

export interface PolicyBindingsTable {
  policy_binding_uuid: string;
  target: string;
  policy: string | null;
  group_id: number | null;
  user_id: number | null;
  negate: Bool;
  enabled: Bool;
  order: number;
  timeout: number;
  failure_result: Bool;
}

export interface FlowStatesTable {
  session_hash: string;
  flow_slug: string;
  plan: Json;
  updated: Timestamp;
  expires: Timestamp;
}

export interface AuthenticatorDevicesTable {
  id: Generated<number>;
  user_id: number;
  kind: string;
  name: string;
  confirmed: Bool;
  secret_sealed: string | null;
  config: Json;
  last_step: ColumnType<number | string | bigint, number | undefined, number>;
  created: Timestamp;
  last_updated: Timestamp;
  last_used: NullableTimestamp;
}

export interface StaticTokensTable {
  device_id: number;
  token_hash: string;
}

export interface BrandsTable {
  brand_uuid: string;
  domain: string;
  is_default: Bool;
  branding_title: string;
  branding_logo: string;
  branding_favicon: string;
  branding_custom_css: string;
  branding_default_flow_background: string;
  flow_authentication: string | null;
  flow_invalidation: string | null;
  flow_recovery: string | null;
  flow_unenrollment: string | null;
  flow_user_settings: string | null;
  flow_device_code: string | null;
  default_application: string | null;
  web_certificate: string | null;
  client_certificates: Json;
  attributes: Json;
}

export interface BlueprintInstancesTable {
  instance_uuid: string;
  name: string;
  path: string;
  context: Json;
  last_applied: NullableTimestamp;
  last_applied_hash: string;
  status: string;
  enabled: Bool;
  managed_models: Json;
  metadata: Json;
  content: string;
}

export interface ReputationsTable {
  reputation_uuid: string;
  identifier: string;
  ip: string;
  score: number;
  updated: Timestamp;
  expires: Timestamp;
}

export interface OAuth2TokensTable {
  /** SHA-256 (hex) of the token as issued. */
  token_hash: string;
  kind: "access" | "refresh";
  provider_id: number;
  user_id: number;
  scope: string;
  /** The token's claims (for introspection answers). */
  claims: Json;
  created: Timestamp;
  expires: Timestamp;
  revoked: Bool;
  /** The grant the token came from: a code's or device code's tokens and their refreshes share it. */
  family: string | null;
  /** SHA-256 (hex) of the browser session the grant was made in, if any. */
  session_hash: string | null;
}

export interface OAuth2CodesTable {
  /** SHA-256 (hex) of the authorization code. */
  code_hash: string;
  provider_id: number;
  user_id: number;
  /** The family the tokens issued for this code get. */
  family: string;
  session_hash: string | null;
  redirect_uri: string;
  scope: string;
  nonce: string | null;
  code_challenge: string | null;
  code_challenge_method: string | null;
  /** The session's `amr` (space-separated) when the code was issued. */
  amr: string | null;
  auth_time: Timestamp;
  created: Timestamp;
  expires: Timestamp;
  used: Bool;
}

export interface OAuth2DeviceCodesTable {
  device_code_hash: string;
  /** What the user types at /device (stored as shown, upper case without the dash). */
  user_code: string;
  provider_id: number;
  scope: string;
  status: "pending" | "approved" | "denied";
  user_id: number | null;
  session_hash: string | null;
  auth_time: NullableTimestamp;
  /** The approving session's `amr` (space-separated), when known. */
  amr: string | null;
  last_poll: NullableTimestamp;
  created: Timestamp;
  expires: Timestamp;
}

export interface ProxySessionsTable {
  /** SHA-256 (hex) of the proxy session cookie's value. */
  session_hash: string;
  provider_id: number;
  user_id: number;
  /** The core session (its hash, the tokens' `sid`) the login came from; SESSION_END ends this too. */
  core_session_hash: string | null;
  /** The user's claims as the outpost passes them upstream. */
  claims: Json;
  /** The access token, encrypted by the outpost with a key derived from the cookie's value. */
  sealed_token: string;
  created: Timestamp;
  expires: Timestamp;
}

export interface PromptsTable {
  prompt_uuid: string;
  name: string;
  field_key: string;
  label: string;
  type: string;
  required: Bool;
  placeholder: string;
  initial_value: string;
  order: number;
  sub_text: string;
}

export interface InvitationsTable {
  invite_uuid: string;
  name: string;
  expires: NullableTimestamp;
  fixed_data: Json;
  single_use: Bool;
  flow: string | null;
  created_by: number | null;
  created: Timestamp;
}

export interface FlowTokensTable {
  token_hash: string;
  flow_slug: string;
  user_id: number | null;
  plan: Json;
  expires: Timestamp;
}

export interface UserConsentsTable {
  consent_uuid: string;
  user_id: number;
  target: string;
  permissions: string;
  expires: NullableTimestamp;
}

export interface ProvidersTable {
  id: Generated<number>;
  name: string;
  kind: string;
  authorization_flow: string | null;
  invalidation_flow: string | null;
  config: Json;
}

export interface OutpostsTable {
  outpost_uuid: string;
  name: string;
  type: string;
  config: Json;
  managed: string | null;
  user_id: number | null;
}

export interface PropertyMappingsTable {
  pm_uuid: string;
  name: string;
  kind: string;
  expression: string;
  managed: string | null;
  /** Scope mappings: the scope this mapping answers. */
  scope_name: string | null;
  description: Generated<string>;
}

export interface OutpostProvidersTable {
  outpost_uuid: string;
  provider_id: number;
}

export interface OutpostStatesTable {
  outpost_uuid: string;
  instance_uid: string;
  last_seen: Timestamp;
  version: string;
  build_hash: string;
  hostname: string;
  args: Json;
}

export interface RolesTable {
  role_uuid: string;
  name: string;
  managed: string | null;
}

export interface RoleUsersTable {
  role: string;
  user_id: number;
}

export interface GroupRolesTable {
  group_id: number;
  role: string;
}

export interface RolePermissionsTable {
  id: Generated<number>;
  role: string;
  permission: string;
  model: string | null;
  object_pk: string | null;
}

export interface ApplicationsTable {
  app_uuid: string;
  name: string;
  slug: string;
  provider: number | null;
  open_in_new_tab: Bool;
  meta_launch_url: string;
  meta_icon: string;
  meta_description: string;
  meta_publisher: string;
  policy_engine_mode: string;
  group: string;
}

export interface ApplicationBackchannelProvidersTable {
  app_uuid: string;
  provider: number;
}

export interface CertificateKeyPairsTable {
  kp_uuid: string;
  name: string;
  certificate_data: string;
  /** PEM as given, or "" when the pair has no private key. Never serialized outside view_private_key. */
  key_data: string;
  managed: string | null;
  fingerprint_sha256: string;
  fingerprint_sha1: string;
  cert_expiry: Timestamp;
  cert_subject: string;
  key_type: string | null;
  created: Timestamp;
  last_updated: Timestamp;
}

export interface Database {
  users: UsersTable;
  groups: GroupsTable;
  group_parents: GroupParentsTable;
  group_members: GroupMembersTable;
  tokens: TokensTable;
  sessions: SessionsTable;
  events: EventsTable;
  settings: SettingsTable;
  flows: FlowsTable;
  stages: StagesTable;
  flow_stage_bindings: FlowStageBindingsTable;
  policies: PoliciesTable;
  policy_bindings: PolicyBindingsTable;
  flow_states: FlowStatesTable;
  authenticator_devices: AuthenticatorDevicesTable;
  static_tokens: StaticTokensTable;
  brands: BrandsTable;
  blueprint_instances: BlueprintInstancesTable;
  reputations: ReputationsTable;
  oauth2_tokens: OAuth2TokensTable;
  oauth2_codes: OAuth2CodesTable;
  oauth2_device_codes: OAuth2DeviceCodesTable;
  proxy_sessions: ProxySessionsTable;
  prompts: PromptsTable;
  invitations: InvitationsTable;
  flow_tokens: FlowTokensTable;
  user_consents: UserConsentsTable;
  providers: ProvidersTable;
  property_mappings: PropertyMappingsTable;
  outposts: OutpostsTable;
  outpost_providers: OutpostProvidersTable;
  outpost_states: OutpostStatesTable;
  roles: RolesTable;
  role_users: RoleUsersTable;
  group_roles: GroupRolesTable;
  role_permissions: RolePermissionsTable;
  applications: ApplicationsTable;
  application_backchannel_providers: ApplicationBackchannelProvidersTable;
  certificate_key_pairs: CertificateKeyPairsTable;
}
