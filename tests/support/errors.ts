/** Assertions about the errors Gatehouse code throws. */
import { expect } from "bun:test";
import { GatehouseError } from "../../shared/errors.ts";

/** The GatehouseError `run` throws (the test fails if it throws anything else, or nothing). */
export function failure(run: () => unknown): GatehouseError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError);
    return err as GatehouseError;
  }
  throw new Error("expected an error");
}
