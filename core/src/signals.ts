/**
 * Signals between parts of the core: an outpost's configuration changed, a session ended. On
 * PostgreSQL they also travel between replicas through LISTEN/NOTIFY, so an outpost connected to one
 * replica hears about a change made through another; on SQLite there is only the one process.
 */
import type { PubSub } from "./store/index.ts";

export type Signal =
  | { kind: "outpost_changed"; outpost: string }
  | { kind: "all_outposts_changed" }
  /**
   * Users, groups, passwords or memberships changed: LDAP and RADIUS outposts drop what they cached,
   * and refetch the users and groups named (all of them when neither list is given).
   */
  | ({ kind: "directory_changed" } & Partial<DirectoryChange>)
  | { kind: "session_ended"; session: string }
  /** One proxy outpost session (by its hash) was signed out: every proxy outpost drops it at once. */
  | { kind: "proxy_session_ended"; session: string }
  /**
   * An OAuth2 provider, an application, a scope mapping or a certificate-key pair changed: the OAuth2
   * endpoints drop what they cached (oauth2/cache.ts).
   */
  | { kind: "oauth2_changed" };

/** Which users (pks) and groups (uuids) a directory change touched; both empty: credentials only. */
export interface DirectoryChange {
  users: number[];
  groups: string[];
}

export type Listener = (signal: Signal) => void;

export const SIGNAL_CHANNEL = "gatehouse_signals";

export class Signals {
  private listeners = new Set<Listener>();
  private readonly origin = crypto.randomUUID();
  private pubsub: PubSub | undefined;
  private stopRelay: (() => Promise<void>) | undefined;

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(signal: Signal): void {
    this.deliver(signal);
    // Other replicas hear it through the store; this one already has.
    void this.pubsub
      ?.publish(SIGNAL_CHANNEL, JSON.stringify({ origin: this.origin, signal }))
      .catch(() => {});
  }

  /** Joins the replicas' channel; signals from other replicas are delivered here too. */
  async relay(pubsub: PubSub): Promise<void> {
    this.pubsub = pubsub;
    this.stopRelay = await pubsub.subscribe(SIGNAL_CHANNEL, (payload) => {
      try {
        const message = JSON.parse(payload) as { origin?: string; signal?: Signal };
        if (message.origin !== this.origin && message.signal) this.deliver(message.signal);
      } catch {
        // A payload that is not ours is ignored.
      }
    });
  }

  async close(): Promise<void> {
    this.pubsub = undefined;
    await this.stopRelay?.();
  }

  private deliver(signal: Signal): void {
    for (const listener of this.listeners) {
      try {
        listener(signal);
      } catch {
        // A listener's failure must not stop the others; listeners log their own errors.
      }
    }
  }
}
