/** `gatehouse-ldap`: the LDAP outpost. */
import { parseListen } from "../../shared/config/load.ts";
import { listen } from "../../shared/config/schema.ts";
import { outpostMain } from "../runtime/main.ts";
import { ldapKind } from "./kind.ts";

const settings = {
  "listen.ldap": listen("0.0.0.0:3389", "Address of the plain LDAP listener."),
  "listen.ldaps": listen("0.0.0.0:6636", "Address of the LDAPS (TLS) listener."),
};

outpostMain("gatehouse-ldap", settings, (config) =>
  ldapKind({
    host: config.host,
    token: config.token,
    listen: parseListen(config["listen.ldap"]) ?? { hostname: "0.0.0.0", port: 3389 },
    listenTls: parseListen(config["listen.ldaps"]) ?? { hostname: "0.0.0.0", port: 6636 },
  }),
);
