import { describe, expect, test } from "bun:test";
import { Counter, Gauge, Registry } from "./metrics.ts";

describe("outpost metrics", () => {
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
    entries = 7;
    const text = await registry.metrics();
    expect(text).toMatch(/^t_up 1$/m);
    expect(text).toMatch(/^# TYPE t_updates_total counter$/m);
    expect(text).toMatch(/^t_updates_total\{kind="partial"\} 3$/m);
    expect(text).toMatch(/^t_updates_total\{kind="full"\} 1$/m);
    expect(text).toContain('# HELP t_entries entries, "quoted"\\nand two lines');
    expect(text).toMatch(/^t_entries\{provider="a\\"b"\} 7$/m);
    expect(text.endsWith("\n")).toBe(true);
    expect(() => updates.inc({ kind: "x" }, -1)).toThrow();
    expect(() => new Gauge({ name: "t_up", help: "again", registers: [registry] })).toThrow();
  });
});
