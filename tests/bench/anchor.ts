/** Starts the anchor (anchor-server.ts) as a child process and waits until its route answers. */
import { resolve } from "node:path";
import { freePort, stopProcess } from "../support/process.ts";
import { onCleanup } from "./cleanup.ts";

const SERVER = resolve(import.meta.dir, "anchor-server.ts");
const READY_TIMEOUT_MS = 10_000;

export interface Anchor {
  /** The route to load: http://127.0.0.1:PORT/x */
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startAnchor(): Promise<Anchor> {
  const port = await freePort();
  const proc = Bun.spawn([process.execPath, SERVER], {
    env: { ...process.env, BENCH_ANCHOR_PORT: String(port) },
    stdin: "ignore",
    stdout: "inherit",
    stderr: "inherit",
  });
  const stop = onCleanup(() => stopProcess(proc));
  const url = `http://127.0.0.1:${port}/x`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (proc.exitCode !== null)
      throw new Error(`the anchor server exited (${proc.exitCode}) before answering`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the anchor server did not answer within ${READY_TIMEOUT_MS} ms`);
    }
    await Bun.sleep(50);
  }
  return { url, pid: proc.pid, stop };
}
