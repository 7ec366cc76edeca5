/**
 * The outpost control channel, core side: connected instances per outpost, HELLO bookkeeping (state in
 * the store, healthy for 15 s), ACK for every message, and TRIGGER_UPDATE / SESSION_END pushed on
 * signals. Frames are authentik's: JSON `{instruction, args}`.
 */

import { Instruction, PROXY_SESSION_END } from "../../../shared/protocol.ts";
import type { CoreContext } from "../context.ts";
import type { DirectoryChange } from "../signals.ts";
import { asJson } from "../store/codec.ts";
import { HEALTHY_FOR_MS } from "./model.ts";

export interface OutpostSocketData {
  outpost: string;
  instance: string;
}

/** The part of Bun's ServerWebSocket the hub uses (so tests can stand one in). */
export interface OutpostSocket {
  readonly data: OutpostSocketData;
  send(text: string): unknown;
  close(code?: number, reason?: string): void;
}

const MAX_FRAME = 64 * 1024;

export class OutpostHub {
  private readonly sockets = new Map<string, Set<OutpostSocket>>();
  private readonly unsubscribe: () => void;

  constructor(private readonly ctx: CoreContext) {
    this.unsubscribe = ctx.signals.on((signal) => {
      if (signal.kind === "outpost_changed") this.sendTo(signal.outpost, Instruction.TRIGGER_UPDATE, {});
      else if (signal.kind === "all_outposts_changed")
        for (const id of this.sockets.keys()) this.sendTo(id, Instruction.TRIGGER_UPDATE, {});
      else if (signal.kind === "directory_changed") void this.directoryChanged(signal);
      else if (signal.kind === "session_ended")
        this.sendAll(Instruction.SESSION_END, { session_id: signal.session });
      else if (signal.kind === "proxy_session_ended")
        this.sendAll(Instruction.PROVIDER_SPECIFIC, {
          sub_type: PROXY_SESSION_END,
          session_hash: signal.session,
        });
    });
  }

  open(ws: OutpostSocket): void {
    const set = this.sockets.get(ws.data.outpost) ?? new Set();
    set.add(ws);
    this.sockets.set(ws.data.outpost, set);
    this.ctx.log.info("outpost connected", { outpost: ws.data.outpost, instance: ws.data.instance });
  }

  close(ws: OutpostSocket): void {
    const set = this.sockets.get(ws.data.outpost);
    set?.delete(ws);
    if (set?.size === 0) this.sockets.delete(ws.data.outpost);
  }

  async message(ws: OutpostSocket, raw: string | Buffer): Promise<void> {
    const text = typeof raw === "string" ? raw : raw.toString("utf8");
    let frame: { instruction?: unknown; args?: unknown };
    try {
      if (text.length > MAX_FRAME) throw new Error("frame too large");
      frame = JSON.parse(text);
    } catch (err) {
      this.ctx.log.warn("bad outpost frame", {
        code: "OP0010BadFrame",
        outpost: ws.data.outpost,
        error: (err as Error).message,
      });
      ws.close(1003, "frames are JSON {instruction, args}");
      return;
    }
    if (frame.instruction === Instruction.ACK) return;
    if (frame.instruction === Instruction.HELLO)
      await this.hello(ws, (frame.args ?? {}) as Record<string, unknown>);
    ws.send(JSON.stringify({ instruction: Instruction.ACK, args: {} }));
  }

  private async hello(ws: OutpostSocket, args: Record<string, unknown>): Promise<void> {
    const str = (v: unknown) => (typeof v === "string" ? v.slice(0, 200) : "");
    const values = {
      last_seen: this.ctx.clock().toISOString(),
      version: str(args.version),
      build_hash: str(args.buildHash),
      hostname: str(args.hostname),
      args: asJson(args),
    };
    await this.ctx.store.db
      .insertInto("outpost_states")
      .values({ outpost_uuid: ws.data.outpost, instance_uid: ws.data.instance, ...values })
      .onConflict((oc) => oc.columns(["outpost_uuid", "instance_uid"]).doUpdateSet(values))
      .execute();
  }

  /**
   * Outposts that answer from a copy of the directory (LDAP, RADIUS) refresh it: TRIGGER_UPDATE with
   * `directory: {users, groups}` names what changed (authentik's outposts ignore the args and refetch
   * everything; ours fetch only those), without it everything.
   */
  private async directoryChanged(change: Partial<DirectoryChange>): Promise<void> {
    const ids = [...this.sockets.keys()];
    if (ids.length === 0) return;
    try {
      const rows = await this.ctx.store.db
        .selectFrom("outposts")
        .select("outpost_uuid")
        .where("outpost_uuid", "in", ids)
        .where("type", "in", ["ldap", "radius"])
        .execute();
      const args =
        change.users && change.groups ? { directory: { users: change.users, groups: change.groups } } : {};
      for (const r of rows) this.sendTo(r.outpost_uuid, Instruction.TRIGGER_UPDATE, args);
    } catch (err) {
      this.ctx.log.error("could not tell outposts about a directory change", {
        code: "OP0011DirectorySignal",
        error: err,
      });
    }
  }

  private sendTo(outpost: string, instruction: number, args: Record<string, unknown>): void {
    for (const ws of this.sockets.get(outpost) ?? []) ws.send(JSON.stringify({ instruction, args }));
  }

  private sendAll(instruction: number, args: Record<string, unknown>): void {
    for (const id of this.sockets.keys()) this.sendTo(id, instruction, args);
  }

  connected(outpost?: string): number {
    if (outpost) return this.sockets.get(outpost)?.size ?? 0;
    let n = 0;
    for (const set of this.sockets.values()) n += set.size;
    return n;
  }

  /** Closes every control channel (the server is going away); outposts reconnect with backoff. */
  disconnectAll(): void {
    for (const set of this.sockets.values()) for (const ws of set) ws.close(1001, "core shutting down");
    this.sockets.clear();
  }

  stop(): void {
    this.unsubscribe();
    this.disconnectAll();
  }
}

/** Instances seen within the last 15 s, newest first. */
export async function healthyInstances(ctx: CoreContext, outpost: string) {
  const since = new Date(ctx.clock().getTime() - HEALTHY_FOR_MS).toISOString();
  return ctx.store.db
    .selectFrom("outpost_states")
    .selectAll()
    .where("outpost_uuid", "=", outpost)
    .where("last_seen", ">", since)
    .orderBy("last_seen", "desc")
    .execute();
}
