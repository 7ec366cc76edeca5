/**
 * The RADIUS socket: UDP datagrams into the handler, replies back to their sender. A handler failure is
 * logged and counted, never fatal; everything else (limits, validation) is the handler's.
 */
import type { Logger } from "../../shared/log.ts";
import type { Outcome, RadiusHandler } from "./handler.ts";

export interface RadiusServer {
  port: number;
  close(): void;
}

export async function startRadiusServer(o: {
  listen: { hostname: string; port: number };
  handler: RadiusHandler;
  count: (outcome: Outcome | "error" | "reply_undeliverable") => void;
  log: Logger;
}): Promise<RadiusServer> {
  const socket = await Bun.udpSocket({
    hostname: o.listen.hostname,
    port: o.listen.port,
    socket: {
      data(sock, data, port, address) {
        o.handler.handle(Buffer.from(data), address, port).then(
          ({ reply, outcome }) => {
            o.count(outcome);
            if (reply) sock.send(reply, port, address);
          },
          (err: unknown) => {
            o.count("error");
            o.log.error("a RADIUS request failed", { code: "RA0001HandlerFailed", error: err });
          },
        );
      },
      // A client that went away before its reply (ICMP port unreachable) must not take the outpost down.
      // (Bun 1.4.5 passes the error in either position.)
      error(...args: unknown[]) {
        o.count("reply_undeliverable");
        const err = args.find((a) => a instanceof Error) as Error | undefined;
        o.log.debug("a RADIUS reply could not be delivered", { error: err?.message ?? "unknown" });
      },
    },
  });
  return { port: socket.port, close: () => socket.close() };
}
