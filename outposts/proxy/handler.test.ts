import { describe, expect, test } from "bun:test";
import { requestTarget } from "./handler.ts";

describe("a request's path and query", () => {
  test("match what URL makes of them, plain or not", () => {
    const paths = [
      "/",
      "/a/b.c/d",
      "/.well-known/x",
      "/a/./b",
      "/a/../admin",
      "/a/..",
      "/a/.",
      "/%2e%2e/admin",
      "/a%20b",
      "/a b",
      "/a\\..\\b",
      "/x?",
      "/x?q=1&r=a%20b",
      "/x?q=<script>",
      "/x?q='1'",
      "/x?a=1?b=2/c",
      "/x#frag",
      "/ü",
      "/outpost.goauthentik.io/auth/nginx?traefik",
      "/app?X-authentik-auth-callback=true&state=s&code=c",
    ];
    for (const path of paths) {
      const raw = `http://app.example.test:9000${path}`;
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        continue;
      }
      const got = requestTarget(raw);
      expect({ path, pathname: got.pathname, search: got.search }).toEqual({
        path,
        pathname: url.pathname,
        search: url.search,
      });
      expect(got.searchParams.toString()).toBe(url.searchParams.toString());
    }
  });
});
