/**
 * The anchor for password logins: argon2id verifications per second with Bun's defaults (what the
 * core's password stage runs), at the same concurrency, in its own process:
 * `bun argon2-anchor.ts <seconds> <concurrency>`. Prints one JSON line.
 */
const [seconds, concurrency] = process.argv.slice(2).map(Number);
const hash = await Bun.password.hash("anchor-password-123", { algorithm: "argon2id" });
const params = /\$argon2id\$v=\d+\$([^$]+)\$/.exec(hash)?.[1] ?? "";
// A short warm-up so the thread pool is up before timing.
await Promise.all(
  Array.from({ length: concurrency ?? 1 }, () => Bun.password.verify("anchor-password-123", hash)),
);
const until = Date.now() + (seconds ?? 5) * 1000;
let verifies = 0;
await Promise.all(
  Array.from({ length: concurrency ?? 1 }, async () => {
    while (Date.now() < until) {
      await Bun.password.verify("anchor-password-123", hash);
      verifies++;
    }
  }),
);
console.log(JSON.stringify({ verifies, seconds, params }));

export {};
