/**
 * First start without a bootstrap password: the core prints a one-time link at which the operator sets
 * akadmin's password. The link works once, refuses cross-site posts, and is not printed again.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import {
  type CoreProcess,
  disposeAll,
  e2eBackends,
  Install,
  PROCESS_TIMEOUT_MS,
  reportMissingBackends,
} from "../support/process.ts";

setDefaultTimeout(PROCESS_TIMEOUT_MS);
afterAll(disposeAll);

reportMissingBackends("setup link");

const PASSWORD = "correct horse battery staple";

for (const backend of e2eBackends()) {
  describe(`setup link on ${backend}`, () => {
    let install: Install;
    let core: CoreProcess;
    let link: string;
    let token: string;

    /** Posts the setup form, from the core's own origin unless `origin` says otherwise. */
    const submit = (fields: Record<string, string>, origin = core.url) =>
      fetch(`${core.url}/setup/`, {
        method: "POST",
        headers: { origin },
        body: new URLSearchParams({ token, ...fields }),
      });

    beforeAll(async () => {
      install = await Install.create(backend);
      core = await install.start();
      const printed = await core.waitForLine(/^\s*(http:\/\/\S+\/setup\/\?token=(\S+))$/);
      link = printed[1] ?? "";
      token = printed[2] ?? "";
    });
    afterAll(() => install.dispose());

    test("the printed link, on the core's own address, shows a form for akadmin's password", async () => {
      expect(link.startsWith(`${core.url}/setup/?token=`)).toBe(true);
      const res = await fetch(link);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toStartWith("text/html");
      expect(res.headers.get("cache-control")).toBe("no-store");
      // A browser posts the form with its Origin only if the page's referrer policy allows it
      // (under "no-referrer" it sends `Origin: null`, which the cross-site check refuses).
      expect(res.headers.get("referrer-policy")).toBe("same-origin");
      const html = await res.text();
      expect(html).toContain('<form method="post" action="/setup/">');
      expect(html).toContain('name="password"');
      expect(html).toContain('name="password_repeat"');
      expect(html).toContain(`name="token" value="${token}"`);
      expect(await install.passwordHash("akadmin")).toBeNull();
    });

    test("a cross-site post is refused with 403 and changes nothing", async () => {
      const res = await submit({ password: PASSWORD, password_repeat: PASSWORD }, "https://evil.example");
      expect(res.status).toBe(403);
      expect(await install.passwordHash("akadmin")).toBeNull();
      expect((await fetch(link)).status).toBe(200);
    });

    test("mismatched or short passwords get the form back with an error, and nothing changes", async () => {
      const mismatch = await submit({ password: PASSWORD, password_repeat: `${PASSWORD}!` });
      expect(mismatch.status).toBe(400);
      const mismatchHtml = await mismatch.text();
      expect(mismatchHtml).toContain("The passwords do not match.");
      expect(mismatchHtml).toContain("<form");

      const short = await submit({ password: "short", password_repeat: "short" });
      expect(short.status).toBe(400);
      expect(await short.text()).toContain("at least 8 characters");

      expect(await install.passwordHash("akadmin")).toBeNull();
      expect((await fetch(link)).status).toBe(200);
    });

    test("a matching password is stored as argon2id, and the link then answers 404", async () => {
      const res = await submit({ password: PASSWORD, password_repeat: PASSWORD });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("password is set");

      const hash = await install.passwordHash("akadmin");
      expect(hash).toStartWith("$argon2id$");
      expect(await Bun.password.verify(PASSWORD, hash ?? "")).toBe(true);

      expect((await fetch(link)).status).toBe(404);
      const again = await submit({ password: "another password 2", password_repeat: "another password 2" });
      expect(again.status).toBe(404);
      expect(await install.passwordHash("akadmin")).toBe(hash);
    });

    test("neither the password nor the link's token reaches the logs", () => {
      expect(core.output).not.toContain(PASSWORD);
      // The token appears once: in the printed link, not in the request log lines.
      expect(core.output.split(token).length - 1).toBe(1);
    });

    test("a restart prints no link any more", async () => {
      expect(await core.stop()).toBe(0);
      core = await install.start();
      await core.waitForLine(/Sign in as akadmin/);
      expect(core.stdout.text).not.toContain("/setup/?token=");
      expect((await fetch(`${core.url}/setup/?token=${token}`)).status).toBe(404);
    });
  });
}
