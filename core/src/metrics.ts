/** Prometheus metrics for the core: requests by route, latency, store and process (shared/metrics.ts). */
import { Counter, Gauge, Histogram, processMetrics, Registry } from "../../shared/metrics.ts";
import type { Store } from "./store/index.ts";

export interface CoreMetrics {
  registry: Registry;
  requests: Counter<"method" | "route" | "status">;
  latency: Histogram<"method" | "route">;
}

export function createMetrics(store: Store, poolMax: number): CoreMetrics {
  const registry = new Registry();
  processMetrics(registry, "gatehouse_");
  const requests = new Counter({
    name: "gatehouse_http_requests_total",
    help: "HTTP requests answered, by route template and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "gatehouse_http_request_duration_seconds",
    help: "Time to answer an HTTP request, by route template",
    labelNames: ["method", "route"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  new Gauge({
    name: "gatehouse_store_pool_max",
    help: "Most connections the store may open (1 for SQLite)",
    labelNames: ["kind"] as const,
    registers: [registry],
    collect() {
      this.set({ kind: store.kind }, store.kind === "sqlite" ? 1 : poolMax);
    },
  });
  new Gauge({
    name: "gatehouse_store_up",
    help: "1 when the store answered a ping at scrape time",
    labelNames: ["kind"] as const,
    registers: [registry],
    async collect() {
      this.set({ kind: store.kind }, (await store.ping()) ? 1 : 0);
    },
  });
  return { registry, requests, latency };
}
