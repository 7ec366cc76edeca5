/**
 * What a benchmark run must undo — child processes, temporary directories, throwaway databases — kept
 * in one list, so the runner can undo it after each suite, after a failure, and on SIGINT/SIGTERM.
 */

type Undo = () => unknown;

const pending = new Set<Undo>();

/** Registers `undo`; the returned function runs it now (once) and forgets it. */
export function onCleanup(undo: Undo): () => Promise<void> {
  let done = false;
  const once = async () => {
    if (done) return;
    done = true;
    pending.delete(once);
    await undo();
  };
  pending.add(once);
  return once;
}

/** Runs every registered undo, newest first; failures are collected, not allowed to stop the rest. */
export async function cleanupAll(): Promise<Error[]> {
  const errors: Error[] = [];
  for (const undo of [...pending].reverse()) {
    try {
      await undo();
    } catch (err) {
      errors.push(err instanceof Error ? err : new Error(String(err)));
    }
  }
  return errors;
}
