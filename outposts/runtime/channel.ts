/**
 * The control channel, outpost side: connect to /ws/outpost/<uuid>/, say HELLO on connect and every
 * 10 s, hand TRIGGER_UPDATE and SESSION_END to the runtime, reconnect with capped jittered backoff.
 */
import { hostname } from "node:os";
import type { Logger } from "../../shared/log.ts";
import { Instruction } from "../../shared/protocol.ts";
import { VERSION } from "../../shared/version.ts";
import { backoffDelay } from "./backoff.ts";

export const HELLO_INTERVAL_MS = 10_000;

export interface ChannelHandlers {
  /** `args` as sent: Gatehouse's core names changed directory objects in `args.directory`. */
  triggerUpdate(args: Record<string, unknown>): void;
  sessionEnd(sessionId: string): void;
  providerSpecific?(args: Record<string, unknown>): void;
  connectionChanged(connected: boolean): void;
}

export interface ChannelOptions {
  host: string;
  token: string;
  outpost: string;
  instance: string;
  log: Logger;
  handlers: ChannelHandlers;
  insecure?: boolean;
}

export class ControlChannel {
  private ws: WebSocket | undefined;
  private attempt = 0;
  private hello: ReturnType<typeof setInterval> | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(private readonly o: ChannelOptions) {}

  url(): string {
    const u = new URL(this.o.host);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    u.pathname = `${u.pathname.replace(/\/+$/, "")}/ws/outpost/${this.o.outpost}/`;
    u.searchParams.set("instance_uuid", this.o.instance);
    u.searchParams.set("attempt", String(this.attempt));
    return u.toString();
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.url(), {
      headers: { authorization: `Bearer ${this.o.token}`, "user-agent": `goauthentik.io/outpost/${VERSION}` },
      ...(this.o.insecure && { tls: { rejectUnauthorized: false } }),
    } as unknown as string[]);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.o.log.info("control channel connected", { outpost: this.o.outpost });
      this.o.handlers.connectionChanged(true);
      this.sendHello();
      this.hello = setInterval(() => this.sendHello(), HELLO_INTERVAL_MS);
    };
    ws.onmessage = (event) => this.receive(String(event.data));
    ws.onclose = () => {
      clearInterval(this.hello);
      this.o.handlers.connectionChanged(false);
      if (this.stopped) return;
      const delay = backoffDelay(this.attempt++);
      this.o.log.warn("control channel closed; reconnecting", {
        outpost: this.o.outpost,
        in_ms: delay,
        attempt: this.attempt,
      });
      this.retry = setTimeout(() => this.connect(), delay);
    };
    ws.onerror = () => {
      // onclose follows and schedules the reconnect.
    };
  }

  private sendHello(): void {
    this.send(Instruction.HELLO, {
      version: VERSION,
      buildHash: "",
      uuid: this.o.instance,
      hostname: hostname(),
    });
  }

  private send(instruction: number, args: Record<string, unknown>): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ instruction, args }));
  }

  private receive(text: string): void {
    let frame: { instruction?: number; args?: Record<string, unknown> };
    try {
      frame = JSON.parse(text);
    } catch {
      this.o.log.warn("ignoring a control frame that is not JSON", { code: "OR0010BadFrame" });
      return;
    }
    if (frame.instruction === Instruction.TRIGGER_UPDATE) {
      const args =
        frame.args && typeof frame.args === "object" && !Array.isArray(frame.args) ? frame.args : {};
      this.o.handlers.triggerUpdate(args);
    } else if (frame.instruction === Instruction.SESSION_END && typeof frame.args?.session_id === "string") {
      this.o.handlers.sessionEnd(frame.args.session_id);
    } else if (
      frame.instruction === Instruction.PROVIDER_SPECIFIC &&
      frame.args &&
      typeof frame.args === "object" &&
      !Array.isArray(frame.args)
    ) {
      this.o.handlers.providerSpecific?.(frame.args);
    }
    if (frame.instruction !== Instruction.ACK) this.send(Instruction.ACK, {});
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.hello);
    clearTimeout(this.retry);
    this.ws?.close(1000, "outpost stopping");
  }
}
