/** Small HTTP helpers for the end-to-end tests: JSON calls with a bearer token, and a held request. */
import { connect } from "node:net";
import type { CoreProcess } from "../support/process.ts";

export interface JsonResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON shapes
  body: any;
  text: string;
}

/** Calls the core's API; `body` is sent as JSON unless it is already a string. */
export async function api(
  core: CoreProcess,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await fetch(`${core.url}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

export interface HeldRequest {
  /** Resolves when the server answered `100 Continue`: it has the request and waits for its body. */
  continued: Promise<void>;
  /** Sends the body. */
  finish(): void;
  /** The final status code, once the server has answered and closed the connection. */
  status: Promise<number>;
}

/**
 * An HTTP/1.1 request over a raw socket whose body is held back until `finish()`: the headers carry
 * `Expect: 100-continue`, so the server's interim answer tells the test the request is in flight.
 */
export function heldRequest(
  core: CoreProcess,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string,
): HeldRequest {
  const url = new URL(core.url);
  const socket = connect(Number(url.port), url.hostname);
  let received = "";
  let onContinue = () => {};
  const continued = new Promise<void>((resolve) => {
    onContinue = resolve;
  });
  socket.on("data", (chunk) => {
    received += chunk.toString("latin1");
    if (received.startsWith("HTTP/1.1 100")) onContinue();
  });
  const status = new Promise<number>((resolve, reject) => {
    socket.once("error", reject);
    socket.once("close", () => {
      const codes = [...received.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]));
      const final = codes.find((code) => code >= 200);
      if (final === undefined) reject(new Error(`no final response; got ${JSON.stringify(received)}`));
      else resolve(final);
    });
  });
  const lines = [
    `${method} ${path} HTTP/1.1`,
    `Host: ${url.host}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    "Expect: 100-continue",
    "Connection: close",
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  return { continued, finish: () => socket.write(body), status };
}
