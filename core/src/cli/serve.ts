/** `gatehouse serve`: the core with its worker, until SIGTERM/SIGINT. */
import type { Logger } from "../../../shared/log.ts";
import { VERSION } from "../../../shared/version.ts";
import type { CoreConfig } from "../config/index.ts";
import { createCore } from "../core.ts";
import { startServer } from "../http/server.ts";
import { startEmbeddedOutposts } from "../outposts/embedded.ts";
import { startWorker } from "../worker.ts";

/** Resolves -1: the process keeps running until a signal ends it. */
export async function serve(config: CoreConfig, log: Logger): Promise<number> {
  const core = await createCore(config, log);
  const server = startServer(core, log);
  const worker = startWorker(core.ctx);
  log.info("gatehouse started", {
    version: VERSION,
    listen: config["listen.http"],
    store: core.ctx.store.kind,
    location: core.ctx.store.location,
  });
  printWelcome(server.url, core.bootstrap.setupKey);
  // Start-up (migrations, blueprints, the first certificate) leaves garbage behind: collect it now
  // rather than whenever the heap next grows, so an idle core sits at its real size.
  setTimeout(() => Bun.gc(true), 2000).unref();
  // Not awaited: the embedded outposts wait for their first configuration without holding up the core.
  const embedded = startEmbeddedOutposts(
    core.ctx,
    `http://127.0.0.1:${server.server.port}`,
    log,
    server.embeddedProxy,
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    worker.stop();
    await (await embedded).stop();
    log.debug("embedded outposts stopped");
    await server.stop();
    log.debug("http server stopped");
    await core.close();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  return -1;
}

function printWelcome(url: string, setupKey: string | undefined): void {
  const lines = setupKey
    ? [
        `Gatehouse is running at ${url}`,
        "akadmin has no password yet. Set it once, within 24 hours, at:",
        `  ${url}/setup/?token=${setupKey}`,
        "(or start with GATEHOUSE_BOOTSTRAP_PASSWORD / GATEHOUSE_BOOTSTRAP_TOKEN set on a fresh data directory)",
      ]
    : [
        `Gatehouse is running at ${url}`,
        "Sign in as akadmin; the API is at /api/v3/ (documentation: /api/v3/docs).",
      ];
  process.stdout.write(`\n${lines.join("\n")}\n\n`);
}
