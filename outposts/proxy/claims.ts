/** The claims the proxy outpost keeps from an access token (authentik's claims.go). */
export interface ProxyClaims {
  sub?: string;
  exp?: number;
  email?: string;
  email_verified?: boolean;
  name?: string;
  preferred_username?: string;
  groups?: string[];
  entitlements?: string[];
  sid?: string;
  ak_proxy?: {
    user_attributes?: Record<string, unknown>;
    backend_override?: string;
    host_header?: string;
    is_superuser?: boolean;
  };
}

/** Who a request is: the claims, the raw token (X-authentik-jwt) and the core session it hangs on. */
export interface Identity {
  claims: ProxyClaims;
  token: string;
  sid: string | null;
  /** Epoch ms after which it no longer counts. */
  expires: number;
}
