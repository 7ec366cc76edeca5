/**
 * The RADIUS protocol: one datagram in, at most one datagram out, no sockets (transport.ts has those).
 * Chooses the client's provider by the most specific network, checks the packet (length, code,
 * authenticators, Message-Authenticator), answers retransmissions from a short reply cache, runs PAP
 * through `authenticate`, and answers Access-Accept (with the provider's reply attributes),
 * Access-Reject (with a Reply-Message) or Access-Challenge (State) when the flow wants a code.
 * Every outcome has a reason, which the caller counts.
 */
import { randomBytes } from "node:crypto";
import { mostSpecific, type Network } from "../../shared/networks.ts";
import { decodeAttributes } from "../../shared/radius/attributes.ts";
import {
  Attr,
  attribute,
  BadAuthenticator,
  Code,
  decodeRequest,
  encodeReply,
  MalformedPacket,
  type RadiusRequest,
} from "./codec.ts";

export interface RadiusProvider {
  pk: number;
  name: string;
  shared_secret: string;
  mfa_support: boolean;
  allow_legacy_clients: boolean;
}

export type AuthOutcome =
  | { kind: "accept"; attributes: string; username: string }
  | { kind: "challenge" }
  | { kind: "reject"; reason: string; message: string };

export interface AuthRequest {
  provider: RadiusProvider;
  username: string;
  password: string;
  code?: string;
  nas: string;
  remoteIp: string;
}

export type Outcome =
  | "accept"
  | "reject_invalid"
  | "reject_denied"
  | "reject_unavailable"
  | "reject_mapping"
  | "reject_no_message_authenticator"
  | "reject_unsupported"
  | "challenge"
  | "duplicate"
  | "drop_unknown_client"
  | "drop_malformed"
  | "drop_bad_authenticator"
  | "drop_unknown_code"
  | "status"
  | "drop_in_progress"
  | "drop_flood";

export interface HandlerOptions {
  networks: () => readonly Network<RadiusProvider>[];
  authenticate: (request: AuthRequest) => Promise<AuthOutcome>;
  now?: () => number;
  /** How long a reply is resent for a retransmission, and a challenge waits for its code. */
  duplicateWindowMs?: number;
  challengeTtlMs?: number;
  /** Requests one source may have waiting on the core at once; more are dropped (a flood). */
  maxInFlightPerSource?: number;
}

const ACCESS_REQUEST = 1;
/** RFC 5997: "are you alive?", from NAS monitoring; answered without authenticating anyone. */
const STATUS_SERVER = 12;
const MAX_PACKET = 4096;

interface Pending {
  authenticator: string;
  reply?: Buffer;
  expires: number;
}

export class RadiusHandler {
  private readonly recent = new Map<string, Pending>();
  private readonly challenges = new Map<
    string,
    { provider: number; username: string; password: string; expires: number }
  >();
  private readonly now: () => number;
  private sweepAt = 0;
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly o: HandlerOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Answers one datagram from `address:port`; `reply` is undefined when nothing is sent. */
  async handle(packet: Buffer, address: string, port: number): Promise<{ reply?: Buffer; outcome: Outcome }> {
    if (packet.length < 20 || packet.length > MAX_PACKET) return { outcome: "drop_malformed" };
    const length = packet.readUInt16BE(2);
    if (length < 20 || length > packet.length) return { outcome: "drop_malformed" };
    if (packet[0] !== ACCESS_REQUEST && packet[0] !== STATUS_SERVER) return { outcome: "drop_unknown_code" };
    const provider = mostSpecific(this.o.networks(), address)?.value;
    if (!provider) return { outcome: "drop_unknown_client" };
    if (packet[0] === STATUS_SERVER) return this.status(packet, provider);

    const now = this.now();
    this.sweep(now);
    const key = `${address}|${port}|${packet[1]}`;
    const authenticator = packet.subarray(4, 20).toString("hex");
    const seen = this.recent.get(key);
    if (seen && seen.authenticator === authenticator && seen.expires > now) {
      return seen.reply ? { reply: seen.reply, outcome: "duplicate" } : { outcome: "drop_in_progress" };
    }

    let request: RadiusRequest;
    try {
      request = decodeRequest(packet, provider.shared_secret);
    } catch (err) {
      if (err instanceof BadAuthenticator) return { outcome: "drop_bad_authenticator" };
      if (err instanceof MalformedPacket) return { outcome: "drop_malformed" };
      throw err;
    }
    const busy = this.inFlight.get(address) ?? 0;
    if (busy >= (this.o.maxInFlightPerSource ?? 256)) return { outcome: "drop_flood" };
    const entry: Pending = { authenticator, expires: now + (this.o.duplicateWindowMs ?? 5_000) };
    this.recent.set(key, entry);
    this.inFlight.set(address, busy + 1);
    let answer: Awaited<ReturnType<RadiusHandler["answer"]>>;
    try {
      answer = await this.answer(request, provider, address);
    } finally {
      const left = (this.inFlight.get(address) ?? 1) - 1;
      if (left > 0) this.inFlight.set(address, left);
      else this.inFlight.delete(address);
    }
    const reply = this.encode(request, provider, answer.code, answer.attributes);
    entry.reply = reply;
    return { reply, outcome: answer.outcome };
  }

  /** Status-Server must carry a valid Message-Authenticator (RFC 5997 §3); the answer is an Access-Accept. */
  private status(packet: Buffer, provider: RadiusProvider): { reply?: Buffer; outcome: Outcome } {
    let request: RadiusRequest;
    try {
      request = decodeRequest(packet, provider.shared_secret);
    } catch (err) {
      if (err instanceof BadAuthenticator) return { outcome: "drop_bad_authenticator" };
      if (err instanceof MalformedPacket) return { outcome: "drop_malformed" };
      throw err;
    }
    if (!request.hasMessageAuthenticator) return { outcome: "drop_bad_authenticator" };
    return { reply: encodeReply(Code.accessAccept, request, [], provider.shared_secret), outcome: "status" };
  }

  private async answer(
    request: RadiusRequest,
    provider: RadiusProvider,
    address: string,
  ): Promise<{ code: number; attributes: Buffer[]; outcome: Outcome }> {
    const reject = (outcome: Outcome, message: string) => ({
      code: Code.accessReject as number,
      attributes: [attribute(Attr.replyMessage, message.slice(0, 250))],
      outcome,
    });
    if (!request.hasMessageAuthenticator && !provider.allow_legacy_clients)
      return reject("reject_no_message_authenticator", "Message-Authenticator is required");
    const username = request.userName;
    const password = request.password;
    if (username === undefined || password === undefined || !username)
      return reject("reject_unsupported", "only PAP (User-Name and User-Password) is supported");
    const nas = request.nas ?? address;

    let auth: AuthRequest;
    const state = request.state;
    if (state) {
      const pending = this.challenges.get(state.toString("hex"));
      this.challenges.delete(state.toString("hex"));
      if (!pending || pending.provider !== provider.pk || pending.expires <= this.now())
        return reject("reject_invalid", "the challenge expired; sign in again");
      auth = {
        provider,
        username: pending.username,
        password: pending.password,
        code: password,
        nas,
        remoteIp: address,
      };
    } else {
      auth = { provider, ...credentials(provider, password), username, nas, remoteIp: address };
    }

    const outcome = await this.o.authenticate(auth);
    if (outcome.kind === "accept") {
      let extra: Buffer[] = [];
      try {
        extra = this.replyAttributes(outcome.attributes);
      } catch {
        return reject("reject_mapping", "the reply attributes could not be read");
      }
      return { code: Code.accessAccept, attributes: extra, outcome: "accept" };
    }
    if (outcome.kind === "challenge" && !state && provider.mfa_support) {
      const id = randomBytes(16);
      this.challenges.set(id.toString("hex"), {
        provider: provider.pk,
        username,
        password,
        expires: this.now() + (this.o.challengeTtlMs ?? 120_000),
      });
      return {
        code: Code.accessChallenge,
        attributes: [
          attribute(Attr.state, id),
          attribute(Attr.replyMessage, "Enter your authentication code"),
        ],
        outcome: "challenge",
      };
    }
    if (outcome.kind === "challenge") return reject("reject_invalid", "a code is required");
    return reject(outcome.reason as Outcome, outcome.message);
  }

  /** The reply attributes check_access gave (base64), decoded and checked once per distinct value. */
  private readonly decoded = new Map<string, Buffer[]>();
  private replyAttributes(base64: string): Buffer[] {
    if (!base64) return [];
    let hit = this.decoded.get(base64);
    if (!hit) {
      hit = decodeAttributes(Buffer.from(base64, "base64")).map(([type, value]) => attribute(type, value));
      if (this.decoded.size >= 1_000) this.decoded.clear();
      this.decoded.set(base64, hit);
    }
    return hit;
  }

  private encode(
    request: RadiusRequest,
    provider: RadiusProvider,
    code: number,
    attributes: Buffer[],
  ): Buffer {
    // Proxy-State goes back as it came (RFC 2865 §5.33); Message-Authenticator always (BlastRADIUS).
    const proxyState = request.attributes
      .filter(([type]) => type === Attr.proxyState)
      .map(([type, value]) => attribute(type, value));
    return encodeReply(code, request, [...attributes, ...proxyState], provider.shared_secret);
  }

  private sweep(now: number): void {
    if (now < this.sweepAt) return;
    this.sweepAt = now + 1_000;
    for (const [k, v] of this.recent) if (v.expires <= now) this.recent.delete(k);
    for (const [k, v] of this.challenges) if (v.expires <= now) this.challenges.delete(k);
  }
}

/**
 * What a PAP password carries: `password;code` when the provider allows MFA, and a bare code (6–8
 * digits) is also offered as the code, for flows that only have an authenticator stage.
 */
function credentials(provider: RadiusProvider, secret: string): { password: string; code?: string } {
  if (!provider.mfa_support) return { password: secret };
  const at = secret.lastIndexOf(";");
  if (at > 0 && at < secret.length - 1) return { password: secret.slice(0, at), code: secret.slice(at + 1) };
  return /^\d{6,8}$/.test(secret) ? { password: secret, code: secret } : { password: secret };
}
