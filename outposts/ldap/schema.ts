/**
 * The `cn=subschema` entry (RFC 4512 §4.2): the attribute types and object classes the directory's
 * entries use, so schema-aware clients (Apache Directory Studio, sssd, ldapsearch -s base) can read
 * them. Standard definitions keep their standard OIDs; authentik's own use a private arc.
 */
import type { Entry } from "./directory.ts";

const DIRECTORY_STRING = "1.3.6.1.4.1.1466.115.121.1.15";
const DN = "1.3.6.1.4.1.1466.115.121.1.12";
const INTEGER = "1.3.6.1.4.1.1466.115.121.1.27";
const BOOLEAN = "1.3.6.1.4.1.1466.115.121.1.7";
const IA5 = "1.3.6.1.4.1.1466.115.121.1.26";
const OID = "1.3.6.1.4.1.1466.115.121.1.38";

/** Private arc for authentik's attributes and classes (not registered; clients only need uniqueness). */
const GOAUTHENTIK = "1.3.6.1.4.1.54900.1";

const attribute = (oid: string, names: string[], syntax: string, single = false) =>
  `( ${oid} NAME ${names.length === 1 ? `'${names[0]}'` : `( ${names.map((n) => `'${n}'`).join(" ")} )`} SYNTAX ${syntax}${single ? " SINGLE-VALUE" : ""} )`;

const ATTRIBUTE_TYPES = [
  attribute("2.5.4.0", ["objectClass"], OID),
  attribute("2.5.4.3", ["cn", "commonName"], DIRECTORY_STRING),
  attribute("2.5.4.4", ["sn", "surname"], DIRECTORY_STRING),
  attribute("2.5.4.41", ["name"], DIRECTORY_STRING),
  attribute("2.5.4.31", ["member"], DN),
  attribute("2.16.840.1.113730.3.1.241", ["displayName"], DIRECTORY_STRING, true),
  attribute("0.9.2342.19200300.100.1.1", ["uid", "userid"], DIRECTORY_STRING),
  attribute("0.9.2342.19200300.100.1.3", ["mail", "rfc822Mailbox"], IA5),
  attribute("0.9.2342.19200300.100.1.25", ["dc", "domainComponent"], IA5, true),
  attribute("1.3.6.1.1.1.1.0", ["uidNumber"], INTEGER, true),
  attribute("1.3.6.1.1.1.1.1", ["gidNumber"], INTEGER, true),
  attribute("1.3.6.1.1.1.1.3", ["homeDirectory"], IA5, true),
  attribute("1.2.840.113556.1.2.102", ["memberOf"], DN),
  attribute("1.2.840.113556.1.4.221", ["sAMAccountName"], DIRECTORY_STRING, true),
  attribute("2.5.4.49", ["distinguishedName"], DN, true),
  attribute(`${GOAUTHENTIK}.1.1`, ["ak-active"], BOOLEAN, true),
  attribute(`${GOAUTHENTIK}.1.2`, ["ak-superuser"], BOOLEAN, true),
];

const OBJECT_CLASSES = [
  "( 2.5.6.0 NAME 'top' ABSTRACT MUST objectClass )",
  "( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) )",
  "( 2.5.6.7 NAME 'organizationalPerson' SUP person STRUCTURAL )",
  "( 2.16.840.1.113730.3.2.2 NAME 'inetOrgPerson' SUP organizationalPerson STRUCTURAL MAY ( mail $ uid $ displayName ) )",
  "( 1.2.840.113556.1.5.9 NAME 'user' SUP organizationalPerson STRUCTURAL MAY ( sAMAccountName $ memberOf $ name ) )",
  "( 1.3.6.1.1.1.2.0 NAME 'posixAccount' SUP top AUXILIARY MUST ( cn $ uid $ uidNumber $ gidNumber $ homeDirectory ) )",
  "( 1.3.6.1.1.1.2.2 NAME 'posixGroup' SUP top AUXILIARY MUST ( cn $ gidNumber ) MAY member )",
  "( 2.5.6.9 NAME 'groupOfNames' SUP top STRUCTURAL MUST cn MAY member )",
  "( 2.5.6.17 NAME 'groupOfUniqueNames' SUP top STRUCTURAL MUST cn )",
  "( 1.2.840.113556.1.5.8 NAME 'group' SUP top STRUCTURAL MAY ( member $ memberOf $ sAMAccountName ) )",
  "( 0.9.2342.19200300.100.4.13 NAME 'domain' SUP top STRUCTURAL MUST dc )",
  "( 2.16.840.1.113730.3.2.1 NAME 'nsContainer' SUP top STRUCTURAL MUST cn MAY distinguishedName )",
  `( ${GOAUTHENTIK}.2.1 NAME 'goauthentik.io/ldap/user' SUP top AUXILIARY MAY ( ak-active $ ak-superuser ) )`,
  `( ${GOAUTHENTIK}.2.2 NAME 'goauthentik.io/ldap/group' SUP top AUXILIARY MAY ak-superuser )`,
];

export const SUBSCHEMA_DN = "cn=subschema";

export function subschemaEntry(): Entry {
  return {
    dn: SUBSCHEMA_DN,
    attributes: {
      objectClass: ["top", "subSchema"],
      cn: ["subschema"],
      attributeTypes: ATTRIBUTE_TYPES,
      objectClasses: OBJECT_CLASSES,
    },
  };
}
