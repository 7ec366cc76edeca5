/**
 * The outpost control channel's wire vocabulary (authentik's `{instruction, args}` frames), shared by
 * the core's hub and the outposts' runtime.
 */
export const Instruction = {
  ACK: 0,
  HELLO: 1,
  TRIGGER_UPDATE: 2,
  PROVIDER_SPECIFIC: 3,
  SESSION_END: 4,
} as const;

/**
 * PROVIDER_SPECIFIC `args.sub_type` for one proxy session signed out (`args.session_hash`: the hash of
 * its cookie value), so every replica drops it at once. authentik used PROVIDER_SPECIFIC with
 * `sub_type: logout` for proxy logouts before SESSION_END; its outposts ignore sub-types they don't know.
 */
export const PROXY_SESSION_END = "proxy_session_end";
