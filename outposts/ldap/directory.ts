/**
 * The directory an LDAP provider shows, built from the core's users and groups: authentik's DN layout
 * and attributes (reference §2), with `memberOf` including inherited groups. Pure: the same input
 * always gives the same entries.
 */

export interface DirectoryUser {
  pk: number;
  username: string;
  name: string;
  email: string;
  is_active: boolean;
  is_superuser: boolean;
  uid: string;
  groups: string[];
  attributes: Record<string, unknown>;
}

export interface DirectoryGroup {
  pk: string;
  num_pk: number;
  name: string;
  is_superuser: boolean;
  parents: string[];
  attributes: Record<string, unknown>;
}

export interface DirectorySettings {
  base_dn: string;
  uid_start_number: number;
  gid_start_number: number;
}

export interface Entry {
  dn: string;
  attributes: Record<string, string[]>;
}

export interface Directory {
  base: string;
  entries: Entry[];
  /** Lower-cased DN → entry. */
  byDn: Map<string, Entry>;
  /** Lower-cased user DN → the user's pk. */
  userPk: Map<string, number>;
}

const bool = (v: boolean) => (v ? "TRUE" : "FALSE");

/** Custom attributes: scalars and lists of scalars, keys made LDAP-safe, `%s` → the username. */
function customAttributes(attributes: Record<string, unknown>, username: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(attributes)) {
    const name = key.replace(/[./]/g, "-");
    const values = (Array.isArray(value) ? value : [value]).filter((v) =>
      ["string", "number", "boolean"].includes(typeof v),
    );
    if (values.length > 0) out[name] = values.map((v) => String(v).replaceAll("%s", username));
  }
  return out;
}

function withDefaults(
  custom: Record<string, string[]>,
  defaults: Record<string, string[]>,
): Record<string, string[]> {
  const lower = new Set(Object.keys(custom).map((k) => k.toLowerCase()));
  const out = { ...custom };
  for (const [k, v] of Object.entries(defaults)) if (!lower.has(k.toLowerCase())) out[k] = v;
  return out;
}

export function buildDirectory(
  settings: DirectorySettings,
  users: DirectoryUser[],
  groups: DirectoryGroup[],
): Directory {
  const base = settings.base_dn;
  const usersOu = `ou=users,${base}`.toLowerCase();
  const groupsOu = `ou=groups,${base}`.toLowerCase();
  const virtualOu = `ou=virtual-groups,${base}`.toLowerCase();
  const userDn = (u: DirectoryUser) => `cn=${escapeRdn(u.username)},${usersOu}`;
  const groupDn = (g: DirectoryGroup) => `cn=${escapeRdn(g.name)},${groupsOu}`;
  const byPk = new Map(groups.map((g) => [g.pk, g]));

  // Every group above a group, through any of its parents.
  const ancestors = (pk: string, seen = new Set<string>()): Set<string> => {
    for (const parent of byPk.get(pk)?.parents ?? []) {
      if (seen.has(parent)) continue;
      seen.add(parent);
      ancestors(parent, seen);
    }
    return seen;
  };

  const entries: Entry[] = [
    {
      dn: base,
      attributes: { objectClass: ["top", "domain"], dc: [base.split(",")[0]?.split("=")[1] ?? ""] },
    },
    ...[usersOu, groupsOu, virtualOu].map((dn) => ({
      dn,
      attributes: {
        objectClass: ["top", "nsContainer"],
        distinguishedName: [dn],
        commonName: [dn.split(",")[0]?.split("=")[1] ?? ""],
      },
    })),
  ];
  const userPk = new Map<string, number>();
  const membersOf = new Map<string, string[]>();

  for (const u of users) {
    const dn = userDn(u);
    userPk.set(dn.toLowerCase(), u.pk);
    const direct = u.groups.filter((g) => byPk.has(g));
    const all = new Set(direct);
    for (const g of direct) for (const a of ancestors(g)) all.add(a);
    for (const g of direct) membersOf.set(g, [...(membersOf.get(g) ?? []), dn]);
    const uidNumber = String(settings.uid_start_number + u.pk);
    entries.push({
      dn,
      attributes: withDefaults(customAttributes(u.attributes, u.username), {
        cn: [u.username],
        sAMAccountName: [u.username],
        uid: [u.uid],
        name: [u.name],
        displayName: [u.name],
        sn: [u.name],
        mail: u.email ? [u.email] : [],
        memberOf: [...all].flatMap((g) => (byPk.get(g) ? [groupDn(byPk.get(g) as DirectoryGroup)] : [])),
        uidNumber: [uidNumber],
        gidNumber: [uidNumber],
        homeDirectory: [`/home/${u.username}`],
        "ak-active": [bool(u.is_active)],
        "ak-superuser": [bool(u.is_superuser)],
        objectClass: [
          "top",
          "person",
          "user",
          "organizationalPerson",
          "inetOrgPerson",
          "goauthentik.io/ldap/user",
          "posixAccount",
        ],
      }),
    });
    // One virtual group per user, as authentik has, for posix clients that want a primary group.
    entries.push({
      dn: `cn=${escapeRdn(u.username)},${virtualOu}`,
      attributes: {
        cn: [u.username],
        gidNumber: [uidNumber],
        member: [dn],
        objectClass: [
          "top",
          "group",
          "groupOfNames",
          "goauthentik.io/ldap/group",
          "goauthentik.io/ldap/virtual-group",
          "posixGroup",
        ],
      },
    });
  }

  for (const g of groups) {
    const children = groups.filter((c) => c.parents.includes(g.pk)).map(groupDn);
    entries.push({
      dn: groupDn(g),
      attributes: withDefaults(customAttributes(g.attributes, g.name), {
        cn: [g.name],
        sAMAccountName: [g.name],
        uid: [g.pk],
        gidNumber: [String(settings.gid_start_number + g.num_pk)],
        member: [...(membersOf.get(g.pk) ?? []), ...children],
        memberOf: g.parents.flatMap((p) => (byPk.get(p) ? [groupDn(byPk.get(p) as DirectoryGroup)] : [])),
        "ak-superuser": [bool(g.is_superuser)],
        objectClass: [
          "top",
          "group",
          "groupOfUniqueNames",
          "groupOfNames",
          "goauthentik.io/ldap/group",
          "posixGroup",
        ],
      }),
    });
  }

  return { base, entries, byDn: new Map(entries.map((e) => [e.dn.toLowerCase(), e])), userPk };
}

/** RFC 4514 escaping for a value inside an RDN. */
export function escapeRdn(value: string): string {
  return value
    .replace(/[,+"\\<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, "\\ ");
}

/** The username from a bind DN under this base: the first `cn=` value, or undefined. */
export function usernameFromDn(dn: string, base: string): string | undefined {
  const normalized = dn.replace(/\s*,\s*/g, ",").trim();
  if (!normalized.toLowerCase().endsWith(`,ou=users,${base}`.toLowerCase())) return undefined;
  const m = /^cn=((?:\\.|[^,])*),/i.exec(normalized);
  return m?.[1]?.replace(/\\(.)/g, "$1");
}
