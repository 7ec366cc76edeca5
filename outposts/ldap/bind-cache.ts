/**
 * Verified binds, remembered so the next bind with the same DN and password needs no flow. Only a keyed
 * hash of (provider, DN, password) is kept — never the password — and the whole cache is dropped the
 * moment the core says anything changed (TRIGGER_UPDATE, SESSION_END), with a maximum age as a backstop.
 */
import { createHmac, randomBytes } from "node:crypto";
import type { BindFlags } from "./kind.ts";

export class BindCache {
  private readonly key = randomBytes(32);
  private readonly entries = new Map<string, { flags: BindFlags; expires: number }>();

  constructor(
    private readonly maxAgeMs = 10 * 60_000,
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  private id(provider: number, dn: string, password: string): string {
    return createHmac("sha256", this.key)
      .update(`${provider}\0${dn.toLowerCase()}\0${password}`)
      .digest("base64url");
  }

  get(provider: number, dn: string, password: string): BindFlags | undefined {
    const id = this.id(provider, dn, password);
    const hit = this.entries.get(id);
    if (!hit) return undefined;
    if (hit.expires <= this.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return hit.flags;
  }

  set(provider: number, dn: string, password: string, flags: BindFlags): void {
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(this.id(provider, dn, password), { flags, expires: this.now() + this.maxAgeMs });
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
