/**
 * Verified credentials (LDAP binds, RADIUS PAP requests), remembered so the next attempt with the same
 * name and password needs no flow. Only a keyed hash of (provider, name, password) is kept — never the
 * password — and the whole cache is dropped the moment the core says anything changed (TRIGGER_UPDATE,
 * SESSION_END), with a maximum age as a backstop. `T` is what a verified attempt grants.
 */
import { createHmac, randomBytes } from "node:crypto";

export class CredentialCache<T> {
  private readonly key = randomBytes(32);
  private readonly entries = new Map<string, { value: T; expires: number }>();

  constructor(
    private readonly maxAgeMs = 10 * 60_000,
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  private id(provider: number, name: string, password: string): string {
    return createHmac("sha256", this.key)
      .update(`${provider}\0${name.toLowerCase()}\0${password}`)
      .digest("base64url");
  }

  get(provider: number, name: string, password: string): T | undefined {
    const id = this.id(provider, name, password);
    const hit = this.entries.get(id);
    if (!hit) return undefined;
    if (hit.expires <= this.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return hit.value;
  }

  set(provider: number, name: string, password: string, value: T): void {
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(this.id(provider, name, password), { value, expires: this.now() + this.maxAgeMs });
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
