/** A provider configuration for the proxy outpost's unit tests. */
import { type Application, buildApplication, type ProxyProviderConfig } from "./application.ts";

export function testApplication(overrides: Partial<ProxyProviderConfig> = {}): Application {
  const config: ProxyProviderConfig = {
    pk: 1,
    name: "app",
    internal_host: "http://127.0.0.1:8080",
    external_host: "https://app.example.test",
    internal_host_ssl_validation: true,
    client_id: "client-id",
    client_secret: "client-secret",
    oidc_configuration: {
      issuer: "http://core.test/application/o/app/",
      authorization_endpoint: "http://core.test/application/o/authorize/",
      token_endpoint: "http://core.test/application/o/token/",
      userinfo_endpoint: "http://core.test/application/o/userinfo/",
      introspection_endpoint: "http://core.test/application/o/introspect/",
      end_session_endpoint: "http://core.test/application/o/app/end-session/",
      jwks_uri: "http://core.test/application/o/app/jwks/",
      id_token_signing_alg_values_supported: ["HS256"],
    },
    cookie_secret: "cookie-secret",
    certificate: null,
    skip_path_regex: "",
    basic_auth_enabled: false,
    basic_auth_password_attribute: "",
    basic_auth_user_attribute: "",
    mode: "proxy",
    cookie_domain: "",
    access_token_validity: 86400,
    intercept_header_auth: true,
    scopes_to_request: ["openid", "profile", "email", "entitlements", "ak_proxy"],
    assigned_application_slug: "app",
    assigned_application_name: "App",
    ...overrides,
  };
  const app = buildApplication(config, { host: "http://core.test", hostBrowser: "" });
  if (!app) throw new Error("test application did not build");
  return app;
}
