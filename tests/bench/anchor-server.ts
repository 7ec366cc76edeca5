/**
 * The anchor server (run as a child process by anchor.ts): one bare Elysia route, handed requests by
 * Bun.serve exactly as the core's HTTP edge hands them to its app. Listens on BENCH_ANCHOR_PORT.
 */
import { Elysia } from "elysia";

const port = Number(process.env.BENCH_ANCHOR_PORT);
if (!Number.isInteger(port) || port <= 0) throw new Error("BENCH_ANCHOR_PORT must be a port number");

const app = new Elysia().get("/x", () => ({ ok: true }));
const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  development: false,
  fetch: (request) => app.handle(request),
});
process.on("SIGTERM", () => {
  void server.stop(true).then(() => process.exit(0));
});
