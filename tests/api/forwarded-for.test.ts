/**
 * The client's address behind a reverse proxy, through the core's real HTTP edge: from a trusted proxy
 * (loopback, by authentik's default networks) X-Forwarded-For names the client that a failed login's
 * event and reputation are about; with no proxy trusted the header changes nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type RunningServer, startServer } from "../../core/src/http/server.ts";
import { memoryLogger } from "../../shared/log.ts";
import { startTestCore, type TestCore } from "../support/core.ts";
import { FlowClient } from "../support/flow-client.ts";

const AUTH = "default-authentication-flow";

for (const trustedProxyCidrs of [undefined, ""]) {
  const trusting = trustedProxyCidrs === undefined;
  describe(trusting ? "behind a trusted proxy" : "with no proxy trusted", () => {
    let t: TestCore;
    let server: RunningServer;
    const log = memoryLogger("info");
    /** A browser behind nginx: the proxy appends what it saw to what the client sent. */
    const browser = (forwardedFor: string) =>
      new FlowClient(
        (request) =>
          fetch(new Request(request.url.replace("http://localhost", server.url), request), {
            redirect: "manual",
          }),
        { headers: { "x-forwarded-for": forwardedFor } },
      );
    const failedFrom = async (ip: string) =>
      (await t.api("GET", `/api/v3/events/events/?action=login_failed&client_ip=${ip}`)).body.pagination
        .count as number;

    beforeAll(async () => {
      t = await startTestCore(
        "sqlite",
        trustedProxyCidrs === undefined ? {} : { "listen.trusted_proxy_cidrs": trustedProxyCidrs },
      );
      server = startServer(t.core, log, "127.0.0.1:0");
      const user = await t.api("POST", "/api/v3/core/users/", { body: { username: "alice", name: "Alice" } });
      await t.api("POST", `/api/v3/core/users/${user.body.pk}/set_password/`, {
        body: { password: "alice-password" },
      });
    });
    afterAll(async () => {
      await server.stop();
      await t.stop();
    });

    test("a failed login is recorded against the right address, whatever the client claims", async () => {
      // The client claims 192.0.2.66; nginx saw 198.51.100.7 and appended it.
      await browser("192.0.2.66, 198.51.100.7").login(AUTH, "alice", "wrong-password");
      expect(await failedFrom("198.51.100.7")).toBe(trusting ? 1 : 0);
      expect(await failedFrom("192.0.2.66")).toBe(0);
      expect(await failedFrom("127.0.0.1")).toBe(trusting ? 0 : 1);
      const logged = log.lines.filter(
        (l) => l.msg === "request" && l.path === `/api/v3/flows/executor/${AUTH}/`,
      );
      expect(logged.at(-1)?.client_ip).toBe(trusting ? "198.51.100.7" : "127.0.0.1");
    });
  });
}
