/**
 * Prometheus metrics for the core and the outposts: gauges, counters and histograms with labels, a
 * `collect` hook for values read at scrape time, process metrics, and the text exposition format. The
 * handful Gatehouse needs, without prom-client (which costs a process ~15 MB of memory).
 */

type Labels = Record<string, string>;

interface MetricOptions<L extends string, M> {
  name: string;
  help: string;
  labelNames?: readonly L[];
  registers?: Registry[];
  /** Runs before each scrape; `this` is the metric. */
  collect?(this: M): void | Promise<void>;
}

const NEEDS_ESCAPE = /[\\\n"]/;
const escapeLabel = (v: string) =>
  NEEDS_ESCAPE.test(v) ? v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"') : v;
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

/** `{a="1",b="2"}` (names sorted), the key of a series; called on every inc, so kept cheap. */
function labelKey(labels: Labels): string {
  const names = Object.keys(labels);
  if (names.length === 1) {
    const name = names[0] as string;
    return `{${name}="${escapeLabel(String(labels[name]))}"}`;
  }
  names.sort();
  return names.length === 0
    ? ""
    : `{${names.map((n) => `${n}="${escapeLabel(String(labels[n]))}"`).join(",")}}`;
}

abstract class Metric<L extends string = string> {
  // biome-ignore lint/suspicious/noExplicitAny: each subclass narrows `this` for its collect hook
  protected readonly options: MetricOptions<L, any>;
  protected readonly values = new Map<string, number>();
  abstract readonly type: "gauge" | "counter";

  // biome-ignore lint/suspicious/noExplicitAny: see `options`
  constructor(options: MetricOptions<L, any>) {
    this.options = options;
    for (const registry of options.registers ?? []) registry.register(this);
  }

  get name(): string {
    return this.options.name;
  }

  reset(): void {
    this.values.clear();
  }

  protected add(labels: Partial<Record<L, string>> | undefined, delta: number, replace: boolean): void {
    const key = labelKey((labels ?? {}) as Labels);
    this.values.set(key, (replace ? 0 : (this.values.get(key) ?? 0)) + delta);
  }

  /** The metric in the text exposition format. */
  async expose(): Promise<string> {
    await this.options.collect?.call(this);
    const lines = [
      `# HELP ${this.name} ${escapeHelp(this.options.help)}`,
      `# TYPE ${this.name} ${this.type}`,
    ];
    // Like prom-client: an unlabelled metric shows 0 before anything is recorded.
    if (this.values.size === 0 && (this.options.labelNames ?? []).length === 0) lines.push(`${this.name} 0`);
    for (const [key, value] of this.values) lines.push(`${this.name}${key} ${value}`);
    return lines.join("\n");
  }
}

export class Gauge<L extends string = string> extends Metric<L> {
  readonly type = "gauge";

  constructor(options: MetricOptions<L, Gauge<L>>) {
    super(options);
  }

  set(labelsOrValue: Partial<Record<L, string>> | number, value?: number): void {
    if (typeof labelsOrValue === "number") this.add(undefined, labelsOrValue, true);
    else this.add(labelsOrValue, value ?? 0, true);
  }
}

export class Counter<L extends string = string> extends Metric<L> {
  readonly type = "counter";

  constructor(options: MetricOptions<L, Counter<L>>) {
    super(options);
  }

  inc(labels?: Partial<Record<L, string>>, by = 1): void {
    if (by < 0) throw new Error("a counter only goes up");
    this.add(labels, by, false);
  }

  /** Adds one to the series of these labels, its key worked out once (for counters on a hot path). */
  incrementer(labels: Partial<Record<L, string>>): () => void {
    const key = labelKey(labels as Labels);
    return () => {
      this.values.set(key, (this.values.get(key) ?? 0) + 1);
    };
  }
}

/** Observations counted into cumulative buckets (seconds, say), with their sum and count. */
export class Histogram<L extends string = string> {
  readonly type = "histogram";
  private readonly series = new Map<
    string,
    { labels: Labels; buckets: number[]; sum: number; count: number }
  >();
  private readonly bounds: number[];

  constructor(private readonly options: MetricOptions<L, Histogram<L>> & { buckets: number[] }) {
    this.bounds = [...options.buckets].sort((a, b) => a - b);
    for (const registry of options.registers ?? []) registry.register(this);
  }

  get name(): string {
    return this.options.name;
  }

  observe(labels: Partial<Record<L, string>>, value: number): void {
    const key = labelKey(labels as Labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels: labels as Labels, buckets: this.bounds.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    // Each bucket counts the observations at or under its bound (cumulated when exposed).
    const at = this.bounds.findIndex((b) => value <= b);
    if (at >= 0) s.buckets[at] = (s.buckets[at] ?? 0) + 1;
    s.sum += value;
    s.count++;
  }

  async expose(): Promise<string> {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.options.help)}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += s.buckets[i] ?? 0;
        lines.push(`${this.name}_bucket${labelKey({ ...s.labels, le: String(bound) })} ${cumulative}`);
      });
      lines.push(`${this.name}_bucket${labelKey({ ...s.labels, le: "+Inf" })} ${s.count}`);
      lines.push(`${this.name}_sum${labelKey(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelKey(s.labels)} ${s.count}`);
    }
    return lines.join("\n");
  }
}

/** The standard process metrics (resident memory, heap, CPU seconds, start time), read at scrape time. */
export function processMetrics(registry: Registry, prefix = ""): void {
  const started = Date.now() / 1000 - process.uptime();
  new Gauge({
    name: `${prefix}process_resident_memory_bytes`,
    help: "Resident memory size in bytes.",
    registers: [registry],
    collect() {
      this.set(process.memoryUsage().rss);
    },
  });
  new Gauge({
    name: `${prefix}nodejs_heap_size_used_bytes`,
    help: "Process heap size used in bytes.",
    registers: [registry],
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });
  new Counter({
    name: `${prefix}process_cpu_seconds_total`,
    help: "Total user and system CPU time spent in seconds.",
    registers: [registry],
    collect() {
      const { user, system } = process.cpuUsage();
      this.reset();
      this.inc(undefined, (user + system) / 1e6);
    },
  });
  new Gauge({
    name: `${prefix}process_start_time_seconds`,
    help: "Start time of the process since the Unix epoch in seconds.",
    registers: [registry],
    collect() {
      this.set(Math.round(started));
    },
  });
}

type Exposable = { name: string; expose(): Promise<string> };

export class Registry {
  readonly contentType = "text/plain; version=0.0.4; charset=utf-8";
  private readonly all: Exposable[] = [];

  register(metric: Exposable): void {
    if (this.all.some((m) => m.name === metric.name))
      throw new Error(`metric ${metric.name} is registered twice`);
    this.all.push(metric);
  }

  async metrics(): Promise<string> {
    const parts: string[] = [];
    for (const m of this.all) parts.push(await m.expose());
    return `${parts.join("\n\n")}\n`;
  }
}
