/** The little cookie jar a browser would be, for one host space (names differ between core and outpost). */

const PROXY_COOKIE = /^authentik_proxy_[0-9a-f]{8}$/;

export class Jar {
  readonly cookies = new Map<string, string>();

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  /** Keeps what the response sets; a cookie set with Max-Age=0 is dropped. */
  keep(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = "", ...attrs] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      if (attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1).trim());
    }
  }

  /** The proxy outpost's session cookie's name, if one is set. */
  proxyCookie(): string | undefined {
    return [...this.cookies.keys()].find((k) => PROXY_COOKIE.test(k));
  }
}
