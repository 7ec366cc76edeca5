import { describe, expect, test } from "bun:test";
import { splitMfa } from "../runtime/flow.ts";
import { buildDirectory, escapeRdn, usernameFromDn } from "./directory.ts";

const settings = { base_dn: "DC=ldap,DC=goauthentik,DC=io", uid_start_number: 2000, gid_start_number: 4000 };

describe("LDAP directory", () => {
  test("authentik's layout: users, groups with children, virtual groups, inherited memberOf, numbers", () => {
    const d = buildDirectory(
      settings,
      [
        {
          pk: 5,
          username: "dee",
          name: "Dee",
          email: "dee@x.test",
          is_active: true,
          is_superuser: false,
          uid: "h",
          groups: ["g2"],
          attributes: { room: 12, "a.b": "%s-home" },
        },
      ],
      [
        { pk: "g1", num_pk: 1, name: "staff", is_superuser: false, parents: [], attributes: {} },
        { pk: "g2", num_pk: 2, name: "devs", is_superuser: true, parents: ["g1"], attributes: {} },
      ],
    );
    const user = d.byDn.get("cn=dee,ou=users,dc=ldap,dc=goauthentik,dc=io");
    expect(user?.attributes).toMatchObject({
      uidNumber: ["2005"],
      gidNumber: ["2005"],
      memberOf: [
        "cn=devs,ou=groups,dc=ldap,dc=goauthentik,dc=io",
        "cn=staff,ou=groups,dc=ldap,dc=goauthentik,dc=io",
      ],
      "ak-active": ["TRUE"],
      homeDirectory: ["/home/dee"],
      room: ["12"],
      "a-b": ["dee-home"],
    });
    const staff = d.byDn.get("cn=staff,ou=groups,dc=ldap,dc=goauthentik,dc=io");
    expect(staff?.attributes.member).toEqual(["cn=devs,ou=groups,dc=ldap,dc=goauthentik,dc=io"]);
    expect(staff?.attributes.gidNumber).toEqual(["4001"]);
    expect(d.byDn.get("cn=devs,ou=groups,dc=ldap,dc=goauthentik,dc=io")?.attributes.memberOf).toEqual([
      "cn=staff,ou=groups,dc=ldap,dc=goauthentik,dc=io",
    ]);
    expect(d.byDn.get("cn=dee,ou=virtual-groups,dc=ldap,dc=goauthentik,dc=io")?.attributes.member).toEqual([
      user?.dn ?? "",
    ]);
    expect(d.byDn.has("ou=users,dc=ldap,dc=goauthentik,dc=io")).toBe(true);
  });

  test("bind DNs name a user only under the provider's users container", () => {
    expect(usernameFromDn("cn=dee,ou=users,dc=ldap,dc=goauthentik,dc=io", settings.base_dn)).toBe("dee");
    expect(usernameFromDn("CN=Dee, OU=users, DC=ldap,DC=goauthentik,DC=io", settings.base_dn)).toBe("Dee");
    expect(
      usernameFromDn(`cn=${escapeRdn("a,b")},ou=users,dc=ldap,dc=goauthentik,dc=io`, settings.base_dn),
    ).toBe("a,b");
    expect(usernameFromDn("cn=dee,ou=groups,dc=ldap,dc=goauthentik,dc=io", settings.base_dn)).toBeUndefined();
    expect(usernameFromDn("cn=dee,ou=users,dc=other", settings.base_dn)).toBeUndefined();
  });

  test("password;code splits at the last semicolon", () => {
    expect(splitMfa("secret;123456")).toEqual({ password: "secret", code: "123456" });
    expect(splitMfa("se;cret;123456")).toEqual({ password: "se;cret", code: "123456" });
    expect(splitMfa("plain")).toEqual({ password: "plain" });
    expect(splitMfa("trailing;")).toEqual({ password: "trailing;" });
  });
});
