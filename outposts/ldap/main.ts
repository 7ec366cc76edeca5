/** `gatehouse-ldap`: the LDAP outpost. */
import { parseListen } from "../../shared/config/load.ts";
import { listen } from "../../shared/config/schema.ts";
import { outpostMain } from "../runtime/main.ts";
import { ldapKind } from "./kind.ts";

outpostMain(
  "gatehouse-ldap",
  { "listen.ldap": listen("0.0.0.0:3389", "Address of the plain LDAP listener.") },
  (config) =>
    ldapKind({
      host: config.host,
      token: config.token,
      listen: parseListen(config["listen.ldap"]) ?? { hostname: "0.0.0.0", port: 3389 },
    }),
);
