import { describe, expect, test } from "bun:test";
import type { CoreContext } from "../context.ts";
import { type TokenRow, writeTokenRows } from "./token-writer.ts";

/** A context whose store records each INSERT's rows and refuses any batch holding a "bad" row. */
function fakeContext() {
  const inserts: string[][] = [];
  const db = {
    insertInto: () => ({
      values: (rows: TokenRow[]) => ({
        execute: async () => {
          await Bun.sleep(1);
          if (rows.some((r) => r.token_hash === "bad")) throw new Error("constraint failed");
          inserts.push(rows.map((r) => r.token_hash));
        },
      }),
    }),
  };
  return { ctx: { store: { db } } as unknown as CoreContext, inserts };
}

const row = (hash: string) => ({ token_hash: hash }) as TokenRow;

describe("writeTokenRows", () => {
  test("grants issued together share one INSERT, and each resolves once it is written", async () => {
    const { ctx, inserts } = fakeContext();
    await Promise.all([
      writeTokenRows(ctx, [row("a")]),
      writeTokenRows(ctx, [row("b"), row("c")]),
      writeTokenRows(ctx, [row("d")]),
    ]);
    expect(inserts).toEqual([["a", "b", "c", "d"]]);
  });

  test("rows queued while a write is under way go in the next one", async () => {
    const { ctx, inserts } = fakeContext();
    const first = writeTokenRows(ctx, [row("a")]);
    await Bun.sleep(0); // the first INSERT is now under way
    await Promise.all([first, writeTokenRows(ctx, [row("b")]), writeTokenRows(ctx, [row("c")])]);
    expect(inserts).toEqual([["a"], ["b", "c"]]);
  });

  test("a failing row fails only its own grant", async () => {
    const { ctx, inserts } = fakeContext();
    const results = await Promise.allSettled([
      writeTokenRows(ctx, [row("a")]),
      writeTokenRows(ctx, [row("bad")]),
      writeTokenRows(ctx, [row("c")]),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(inserts).toEqual([["a"], ["c"]]);
  });
});
