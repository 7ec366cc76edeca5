import { describe, expect, test } from "bun:test";
import { sealToken, unsealToken } from "./seal.ts";

describe("sealed tokens", () => {
  test("open only with the cookie value that sealed them", () => {
    const sealed = sealToken("cookie-value-1", "eyJ.token.sig");
    expect(sealed).not.toContain("token");
    expect(unsealToken("cookie-value-1", sealed)).toBe("eyJ.token.sig");
    expect(unsealToken("cookie-value-2", sealed)).toBeUndefined();
    expect(unsealToken("cookie-value-1", `${sealed.slice(0, -2)}AA`)).toBeUndefined();
    expect(unsealToken("cookie-value-1", "garbage")).toBeUndefined();
  });
});
