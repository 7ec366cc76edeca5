/** `gatehouse-ldap`: the LDAP outpost — the shared runtime plus the LDAP kind. */
import { parseListen } from "../../shared/config/load.ts";
import { listen } from "../../shared/config/schema.ts";
import { loadOutpostConfig } from "../runtime/config.ts";
import { runOutpost } from "../runtime/runtime.ts";
import { ldapKind } from "./kind.ts";

const { values: config, warnings } = loadOutpostConfig({
  "listen.ldap": listen("0.0.0.0:3389", "Address of the plain LDAP listener."),
});
for (const w of warnings) console.error(w);
const address = parseListen(config["listen.ldap"]) ?? { hostname: "0.0.0.0", port: 3389 };
const running = await runOutpost(
  ldapKind({ host: config.host, token: config.token, listen: address }),
  config,
);
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => void running.stop().then(() => process.exit(0)));
}
