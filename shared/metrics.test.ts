import { describe, expect, test } from "bun:test";
import { Counter, Gauge, Histogram, processMetrics, Registry } from "./metrics.ts";

describe("metrics", () => {
  test("gauges and counters in the Prometheus text format, with labels and collect hooks", async () => {
    const registry = new Registry();
    const up = new Gauge({ name: "t_up", help: "1 when up", registers: [registry] });
    const updates = new Counter({
      name: "t_updates_total",
      help: "updates",
      labelNames: ["kind"],
      registers: [registry],
    });
    let entries = 3;
    new Gauge({
      name: "t_entries",
      help: 'entries, "quoted"\nand two lines',
      labelNames: ["provider"],
      registers: [registry],
      collect() {
        this.reset();
        this.set({ provider: 'a"b' }, entries);
      },
    });
    const before = await registry.metrics();
    expect(before).toContain("# TYPE t_up gauge\nt_up 0\n");
    up.set(1);
    updates.inc({ kind: "partial" });
    updates.inc({ kind: "partial" }, 2);
    updates.inc({ kind: "full" });
    const partial = updates.incrementer({ kind: "partial" });
    partial();
    partial();
    entries = 7;
    const text = await registry.metrics();
    expect(text).toMatch(/^t_up 1$/m);
    expect(text).toMatch(/^# TYPE t_updates_total counter$/m);
    expect(text).toMatch(/^t_updates_total\{kind="partial"\} 5$/m);
    expect(text).toMatch(/^t_updates_total\{kind="full"\} 1$/m);
    expect(text).toContain('# HELP t_entries entries, "quoted"\\nand two lines');
    expect(text).toMatch(/^t_entries\{provider="a\\"b"\} 7$/m);
    expect(text.endsWith("\n")).toBe(true);
    expect(() => updates.inc({ kind: "x" }, -1)).toThrow();
    expect(() => new Gauge({ name: "t_up", help: "again", registers: [registry] })).toThrow();
  });

  test("histograms cumulate their buckets per label set, with sum and count", async () => {
    const registry = new Registry();
    const h = new Histogram({
      name: "t_seconds",
      help: "time",
      labelNames: ["route"],
      buckets: [0.1, 0.01, 1],
      registers: [registry],
    });
    for (const v of [0.005, 0.05, 0.05, 3]) h.observe({ route: "/a" }, v);
    h.observe({ route: "/b" }, 0.5);
    const text = await registry.metrics();
    expect(text).toContain("# TYPE t_seconds histogram");
    expect(text).toContain('t_seconds_bucket{le="0.01",route="/a"} 1');
    expect(text).toContain('t_seconds_bucket{le="0.1",route="/a"} 3');
    expect(text).toContain('t_seconds_bucket{le="1",route="/a"} 3');
    expect(text).toContain('t_seconds_bucket{le="+Inf",route="/a"} 4');
    expect(text).toContain('t_seconds_sum{route="/a"} 3.105');
    expect(text).toContain('t_seconds_count{route="/a"} 4');
    expect(text).toContain('t_seconds_bucket{le="1",route="/b"} 1');
  });

  test("process metrics and asynchronous collect hooks are read at scrape time", async () => {
    const registry = new Registry();
    processMetrics(registry, "t_");
    new Gauge({
      name: "t_store_up",
      help: "up",
      registers: [registry],
      async collect() {
        this.set(await Promise.resolve(1));
      },
    });
    const text = await registry.metrics();
    expect(text).toMatch(/^t_process_resident_memory_bytes \d+$/m);
    expect(text).toMatch(/^t_process_cpu_seconds_total [\d.]+$/m);
    expect(text).toMatch(/^t_store_up 1$/m);
  });
});
