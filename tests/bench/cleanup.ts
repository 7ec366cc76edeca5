/**
 * What a benchmark run must undo — child processes, temporary directories, throwaway databases — kept
 * in one list, so the runner can undo it after each suite, after a failure, and on SIGINT/SIGTERM.
 */

type Undo = () => unknown;

const pending = new Set<() => Promise<void>>();
const running = new Set<Promise<void>>();

/**
 * Registers `undo`; the returned function runs it now and forgets it. It runs once: every caller,
 * the suite's own `finally` and a signal handler alike, waits for that one run to finish.
 */
export function onCleanup(undo: Undo): () => Promise<void> {
  let run: Promise<void> | undefined;
  const once = () => {
    if (!run) {
      pending.delete(once);
      run = (async () => {
        await undo();
      })();
      running.add(run);
      void run.then(
        () => running.delete(run as Promise<void>),
        () => running.delete(run as Promise<void>),
      );
    }
    return run;
  };
  pending.add(once);
  return once;
}

/**
 * Runs every registered undo, newest first, and waits for any already under way; failures are
 * collected, not allowed to stop the rest.
 */
export async function cleanupAll(): Promise<Error[]> {
  const errors: Error[] = [];
  const collect = (err: unknown) => errors.push(err instanceof Error ? err : new Error(String(err)));
  const underWay = [...running];
  for (const undo of [...pending].reverse()) await undo().catch(collect);
  for (const run of underWay) await run.catch(() => {}); // its own caller reports its failure
  return errors;
}
