/**
 * Load generator for password logins through the flow executor, run as its own process:
 * `bun flow-login-load.ts <base url> <flow slug> <username> <password> <seconds> <concurrency>`.
 * Each login is what an outpost does: GET the executor, POST identification, follow the 302, POST the
 * password, follow the 302 to the redirect. Prints one JSON line: logins, failures, latencies.
 */
const [base, slug, username, password, seconds, concurrency] = process.argv.slice(2);
if (!base?.startsWith("http://127.0.0.1:") || !slug || !username || !password) {
  console.error(
    "usage: flow-login-load.ts http://127.0.0.1:PORT <slug> <username> <password> <seconds> <concurrency>",
  );
  process.exit(2);
}
const url = `${base}/api/v3/flows/executor/${slug}/?query=`;

async function login(): Promise<boolean> {
  let cookie = "";
  const call = async (method: string, body?: unknown) => {
    const res = await fetch(url, {
      method,
      redirect: "manual",
      headers: {
        ...(cookie && { cookie }),
        ...(body !== undefined && { "content-type": "application/json" }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const set = res.headers.get("set-cookie");
    const m = set && /authentik_session=[^;]*/.exec(set);
    if (m) cookie = m[0];
    if (res.status === 302) return call("GET");
    return (await res.json()) as { component: string };
  };
  if ((await call("GET")).component !== "ak-stage-identification") return false;
  if ((await call("POST", { uid_field: username, password })).component !== "ak-stage-password") return false;
  const done = await call("POST", { password });
  return done.component === "xak-flow-redirect";
}

const until = Date.now() + Number(seconds) * 1000;
const latencies: number[] = [];
let failures = 0;
await Promise.all(
  Array.from({ length: Number(concurrency) }, async () => {
    while (Date.now() < until) {
      const start = performance.now();
      if (await login()) latencies.push(performance.now() - start);
      else failures++;
    }
  }),
);
latencies.sort((a, b) => a - b);
const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
console.log(
  JSON.stringify({
    logins: latencies.length,
    failures,
    seconds: Number(seconds),
    p50_ms: at(0.5),
    p99_ms: at(0.99),
  }),
);

export {};
