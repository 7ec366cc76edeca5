import { describe, expect, test } from "bun:test";
import { noteAmr, type PlanContext, sessionAmr } from "./types.ts";

describe("authentication methods (OIDC amr)", () => {
  test("each method is noted once; more than one kind of factor adds mfa", () => {
    const context: PlanContext = {};
    expect(sessionAmr(context)).toEqual([]);
    noteAmr(context, "pwd");
    noteAmr(context, "pwd");
    expect(sessionAmr(context)).toEqual(["pwd"]);
    noteAmr(context, "otp");
    expect(sessionAmr(context)).toEqual(["pwd", "otp", "mfa"]);
    const passkey: PlanContext = {};
    noteAmr(passkey, "hwk");
    expect(sessionAmr(passkey)).toEqual(["hwk"]);
  });
});
