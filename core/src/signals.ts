/**
 * In-process signals between parts of the core: an outpost's configuration changed, a session ended.
 * With PostgreSQL, several replicas will relay these through LISTEN/NOTIFY (not yet: each replica
 * signals its own connected outposts, and outposts also refresh on their interval).
 */
export type Signal =
  | { kind: "outpost_changed"; outpost: string }
  | { kind: "all_outposts_changed" }
  | { kind: "session_ended"; session: string };

export type Listener = (signal: Signal) => void;

export class Signals {
  private listeners = new Set<Listener>();

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(signal: Signal): void {
    for (const listener of this.listeners) {
      try {
        listener(signal);
      } catch {
        // A listener's failure must not stop the others; listeners log their own errors.
      }
    }
  }
}
