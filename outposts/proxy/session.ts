/**
 * Proxy sessions: kept by the core (/api/v3/outposts/proxy/sessions/), found by SHA-256 of the cookie
 * value, so every replica and every restart sees the same sessions. The outpost holds answers (found or
 * not) for a few seconds in memory, by the cookie value itself (a request that hits the cache hashes
 * nothing); SESSION_END drops every cached session of the ended core session at once, and a late answer
 * for an ended session is not cached.
 *
 * When the core cannot be reached (a restart, an upgrade, a network cut), a session the outpost saw
 * live in the last grace period (proxy.session_grace, STALE_GRACE_MS by default) is still honoured,
 * until its own expiry, so signed-in users keep working; a session it never saw gets CoreUnavailable
 * (a 503 page), never a guess.
 */
import { sha256Hex } from "../../shared/crypto.ts";
import { type ApiClient, CoreUnavailable, NotFound } from "../runtime/api.ts";
import type { Identity, ProxyClaims } from "./claims.ts";
import { sealToken, unsealToken } from "./seal.ts";
import { TtlCache } from "./ttl-cache.ts";

export const SESSION_TTL_MS = 5_000;
/** How long a session last confirmed by the core is honoured while the core cannot be reached. */
export const STALE_GRACE_MS = 15 * 60_000;
const ENDED_TTL_MS = 120_000;
const MAX_SESSIONS = 50_000;

interface CoreSession {
  session_hash: string;
  provider: number;
  user: number;
  sid: string | null;
  claims: ProxyClaims;
  sealed_token: string;
  expires: string;
}

type Cached = (Identity & { provider: number }) | null;

const PATH = "/outposts/proxy/sessions/";

export class SessionStore {
  private readonly cache: TtlCache<Cached>;
  private readonly ended: TtlCache<true>;
  /** Sessions the core confirmed in the last STALE_GRACE_MS, for when it cannot be reached. */
  private readonly confirmed: TtlCache<Identity & { provider: number }>;

  private readonly pending = new Map<string, Promise<Cached>>();

  constructor(
    private readonly api: () => ApiClient,
    private readonly now: () => number = Date.now,
    private readonly ttlMs = SESSION_TTL_MS,
    /** How long a session the core confirmed still passes while the core cannot be reached. */
    private readonly graceMs = STALE_GRACE_MS,
  ) {
    this.cache = new TtlCache(MAX_SESSIONS, now);
    this.ended = new TtlCache(MAX_SESSIONS, now);
    this.confirmed = new TtlCache(MAX_SESSIONS, now);
  }

  /**
   * The live session this cookie value opens for `provider`, or undefined: at once when the answer is
   * cached (the proxy's front then answers within the socket's callback), else once the core answered.
   */
  find(provider: number, cookieValue: string): Identity | undefined | Promise<Identity | undefined> {
    const found = this.cache.get(cookieValue);
    if (found !== undefined) return this.live(found, provider);
    let loading = this.pending.get(cookieValue);
    if (!loading) {
      loading = this.load(cookieValue).finally(() => this.pending.delete(cookieValue));
      this.pending.set(cookieValue, loading);
    }
    return loading.then((loaded) => this.live(loaded, provider));
  }

  private live(found: Cached, provider: number): Identity | undefined {
    if (!found || found.provider !== provider || found.expires <= this.now()) return undefined;
    if (found.sid && this.ended.has(found.sid)) return undefined;
    return found;
  }

  private async load(cookieValue: string): Promise<Cached> {
    let session: CoreSession;
    try {
      session = await this.api().get<CoreSession>(`${PATH}${sha256Hex(cookieValue)}/`);
    } catch (err) {
      if (err instanceof CoreUnavailable) return this.whileAway(cookieValue, err);
      if (!(err instanceof NotFound)) throw err;
      this.confirmed.delete(cookieValue);
      this.cache.set(cookieValue, null, this.ttlMs);
      return null;
    }
    const identity = this.identity(session, cookieValue);
    if (!identity?.sid || !this.ended.has(identity.sid)) {
      this.cache.set(cookieValue, identity, this.ttlMs);
      if (identity && this.graceMs > 0) this.confirmed.set(cookieValue, identity, this.graceMs);
    }
    return identity;
  }

  /** The core is away: the session as last confirmed, held like a fresh answer; else the error. */
  private whileAway(cookieValue: string, err: CoreUnavailable): Cached {
    const last = this.confirmed.get(cookieValue);
    if (!last || last.expires <= this.now() || (last.sid && this.ended.has(last.sid))) throw err;
    this.cache.set(cookieValue, last, this.ttlMs);
    return last;
  }

  private identity(session: CoreSession, cookieValue: string): Cached {
    const token = unsealToken(cookieValue, session.sealed_token);
    if (token === undefined) return null;
    return {
      provider: session.provider,
      claims: session.claims,
      token,
      sid: session.sid,
      expires: new Date(session.expires).getTime(),
    };
  }

  /** Registers a login with the core (which checks the token) and caches it. */
  async create(provider: number, cookieValue: string, accessToken: string): Promise<Identity> {
    const hash = sha256Hex(cookieValue);
    const session = await this.api().send<CoreSession>("POST", PATH, {
      session_hash: hash,
      provider,
      access_token: accessToken,
      sealed_token: sealToken(cookieValue, accessToken),
    });
    const identity = this.identity(session, cookieValue);
    if (!identity) throw new Error("the core returned a session this outpost cannot open");
    this.cache.set(cookieValue, identity, this.ttlMs);
    if (this.graceMs > 0) this.confirmed.set(cookieValue, identity, this.graceMs);
    return identity;
  }

  /** Ends the session in the core (sign_out). */
  async remove(cookieValue: string): Promise<void> {
    this.cache.set(cookieValue, null, this.ttlMs);
    this.confirmed.delete(cookieValue);
    try {
      await this.api().send("DELETE", `${PATH}${sha256Hex(cookieValue)}/`);
    } catch (err) {
      if (!(err instanceof NotFound)) throw err;
    }
  }

  /** SESSION_END: the core session `sid` is over; its proxy sessions go from memory now. */
  endSid(sid: string): number {
    this.ended.set(sid, true, ENDED_TTL_MS);
    this.confirmed.deleteWhere((s) => s.sid === sid);
    return this.cache.deleteWhere((s) => s?.sid === sid);
  }

  /**
   * Another replica signed this session out (the core names it by the hash of its cookie value): it
   * goes from memory now rather than when its cache entry runs out.
   */
  endSession(hash: string): number {
    this.confirmed.deleteWhere((_, cookieValue) => sha256Hex(cookieValue) === hash);
    return this.cache.deleteWhere((_, cookieValue) => sha256Hex(cookieValue) === hash);
  }

  /** Whether a core session was ended recently (for identities cached elsewhere). */
  isEnded(sid: string | null): boolean {
    return sid !== null && this.ended.has(sid);
  }

  clear(): void {
    this.cache.clear();
    this.confirmed.clear();
  }

  get size(): number {
    return this.cache.size;
  }
}
