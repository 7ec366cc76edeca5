/**
 * A browser signing in through a proxy provider, played with fetch and a cookie jar: the user signs in
 * at the core's authentication flow, asks the app for /private?x=1, follows the outpost's /start to the
 * core's authorize endpoint and the provider's flow, and comes back through the outpost's callback to
 * where it started, with the session cookie set. Each step is checked on the way.
 */
import { expect } from "bun:test";
import { Jar } from "./cookie-jar.ts";
import type { TestCore } from "./core.ts";
import { FlowClient } from "./flow-client.ts";

export interface ProxyLoginOptions {
  t: TestCore;
  /** The core's URL, where the outpost sends the browser. */
  coreUrl: string;
  /** The app's external URL (the provider's external_host). */
  appBase: string;
  /** A request as the browser sends it (keeping the jar's cookies). */
  get(url: string, jar: Jar): Promise<Response>;
  /** Deliver the callback to this path of the app instead (authentik's marker form). */
  callbackOn?: string;
}

export async function proxyLogin(o: ProxyLoginOptions): Promise<{ jar: Jar; client: FlowClient }> {
  const { appBase, get } = o;
  const jar = new Jar();
  const client = new FlowClient((r) => o.t.core.app.handle(r));
  await client.login("default-authentication-flow", "alice", "alice-password");
  jar.cookies.set("authentik_session", client.cookie ?? "");
  const first = await get(`${appBase}/private?x=1`, jar);
  expect(first.status).toBe(302);
  const start = first.headers.get("location") ?? "";
  expect(start).toBe(
    `${appBase}/outpost.goauthentik.io/start?rd=${encodeURIComponent(`${appBase}/private?x=1`)}`,
  );
  const toAuthorize = await get(start, jar);
  expect(toAuthorize.status).toBe(302);
  const authorize = new URL(toAuthorize.headers.get("location") ?? "");
  expect(authorize.origin).toBe(o.coreUrl);
  expect(authorize.pathname).toBe("/application/o/authorize/");
  expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
  const toFlow = await get(authorize.href, jar);
  expect(toFlow.status).toBe(302);
  const slug = /^\/if\/flow\/([^/]+)\//.exec(
    new URL(toFlow.headers.get("location") ?? "", o.coreUrl).pathname,
  )?.[1];
  expect(slug).toBeString();
  client.cookie = jar.cookies.get("authentik_session");
  const done = await client.get(slug as string);
  expect(done.component).toBe("xak-flow-redirect");
  expect(done.to).toStartWith(`${appBase}/outpost.goauthentik.io/callback?`);
  const callbackUrl = o.callbackOn ? `${appBase}${o.callbackOn}${new URL(done.to).search}` : done.to;
  const back = await get(callbackUrl, jar);
  expect(back.status, await back.clone().text()).toBe(302);
  expect(back.headers.get("location")).toBe(`${appBase}/private?x=1`);
  const setCookie = back.headers.getSetCookie().join("\n");
  expect(setCookie).toMatch(/authentik_proxy_[0-9a-f]{8}=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+/);
  expect(setCookie).toContain("HttpOnly");
  expect(setCookie).toContain("SameSite=Lax");
  return { jar, client };
}
