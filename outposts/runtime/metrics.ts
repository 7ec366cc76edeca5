/**
 * Prometheus metrics for outposts: gauges and counters with labels, a `collect` hook for values read at
 * scrape time, and the text exposition format. The handful an outpost needs, without prom-client
 * (which costs an outpost ~15 MB of memory).
 */

type Labels = Record<string, string>;

interface MetricOptions<L extends string, M> {
  name: string;
  help: string;
  labelNames?: readonly L[];
  registers?: Registry[];
  /** Runs before each scrape; `this` is the metric. */
  collect?(this: M): void;
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

function labelKey(labels: Labels): string {
  const names = Object.keys(labels).sort();
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
  expose(): string {
    this.options.collect?.call(this);
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
}

export class Registry {
  readonly contentType = "text/plain; version=0.0.4; charset=utf-8";
  private readonly all: Metric[] = [];

  register(metric: Metric): void {
    if (this.all.some((m) => m.name === metric.name))
      throw new Error(`metric ${metric.name} is registered twice`);
    this.all.push(metric);
  }

  async metrics(): Promise<string> {
    return `${this.all.map((m) => m.expose()).join("\n\n")}\n`;
  }
}
