/**
 * What the outpost reads of a request: Bun's own Request (the HTTPS listener, the embedded outpost) or
 * the one the HTTP front parsed off the socket (front.ts), which skips building a Request and Headers.
 */

export interface RequestHeaders {
  /** The value, several of the same name joined with ", " (as Headers does), or null. */
  get(name: string): string | null;
  /** Each header, names lower-cased. */
  forEach(callback: (value: string, name: string) => void): void;
}

export interface ProxyRequest {
  readonly method: string;
  /** Absolute: scheme and host, then the target as the client sent it. */
  readonly url: string;
  readonly headers: RequestHeaders;
  readonly body: ReadableStream<Uint8Array> | null;
  /** Aborted when the client goes away, where the listener tells (the front cancels on its own). */
  readonly signal?: AbortSignal;
}

/** The headers of a parsed request head: names lower-cased, in the order they came. */
export class HeaderList implements RequestHeaders {
  constructor(private readonly pairs: [string, string][]) {}

  get(name: string): string | null {
    let found: string | null = null;
    for (const [n, v] of this.pairs) if (n === name) found = found === null ? v : `${found}, ${v}`;
    return found;
  }

  forEach(callback: (value: string, name: string) => void): void {
    for (const [n, v] of this.pairs) callback(v, n);
  }
}
