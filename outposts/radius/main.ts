/** `gatehouse-radius`: the RADIUS outpost. */
import { parseListen } from "../../shared/config/load.ts";
import { listen } from "../../shared/config/schema.ts";
import { outpostMain } from "../runtime/main.ts";
import { radiusKind } from "./kind.ts";

const settings = {
  "listen.radius": listen("0.0.0.0:1812", "Address of the RADIUS (UDP) listener."),
};

outpostMain("gatehouse-radius", settings, (config) =>
  radiusKind({
    host: config.host,
    token: config.token,
    listen: parseListen(config["listen.radius"]) ?? { hostname: "0.0.0.0", port: 1812 },
  }),
);
