import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Signal } from "../../core/src/signals.ts";
import { backendNames, startTestCore, type TestCore } from "../support/core.ts";

const PATH = "/api/v3/crypto/certificatekeypairs";
const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;

function openssl(args: string[], input?: string): string {
  const r = spawnSync("openssl", args, { input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** `openssl x509 -fingerprint` prints "sha256 Fingerprint=AB:CD:…"; authentik's form is lower case. */
const opensslFingerprint = (pem: string, alg: "sha256" | "sha1") =>
  openssl(["x509", "-noout", "-fingerprint", `-${alg}`], pem)
    .trim()
    .replace(/^.*=/, "")
    .toLowerCase();

/** A certificate and key made by openssl, outside Gatehouse. */
function opensslPair(dir: string, name: string, subject: string, keyArgs: string[]) {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  openssl([
    "req",
    "-x509",
    ...keyArgs,
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "30",
    "-subj",
    subject,
  ]);
  return { cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") };
}

for (const backend of backendNames()) {
  describe.skipIf(!hasOpenssl)(`certificate-key pairs on ${backend}`, () => {
    let t: TestCore;
    let dir: string;
    let rsa: { cert: string; key: string };
    let ec: { cert: string; key: string };

    beforeAll(async () => {
      t = await startTestCore(backend);
      dir = mkdtempSync(join(tmpdir(), "gatehouse-certs-"));
      rsa = opensslPair(dir, "rsa", "/C=US/O=Example, Inc/CN=rsa.example.test", ["-newkey", "rsa:2048"]);
      ec = opensslPair(dir, "ec", "/CN=ec.example.test", [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
      ]);
    });
    afterAll(async () => {
      await t.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    test("the managed self-signed pair exists after start, once", async () => {
      const list = await t.api("GET", `${PATH}/?managed=goauthentik.io/crypto/self-signed`);
      expect(list.status).toBe(200);
      expect(list.body.results).toEqual([
        expect.objectContaining({
          name: "authentik Self-signed Certificate",
          managed: "goauthentik.io/crypto/self-signed",
          private_key_available: true,
          key_type: "ec",
          cert_subject: "OU=Self-signed,O=authentik,CN=authentik Self-signed Certificate",
        }),
      ]);
      const restarted = await t.restart();
      t = restarted;
      const again = await t.api("GET", `${PATH}/?name=authentik%20Self-signed%20Certificate`);
      expect(again.body.pagination.count).toBe(1);
      expect(again.body.results[0].pk).toBe(list.body.results[0].pk);
    });

    test("generate, then read back; fingerprints match openssl's", async () => {
      const made = await t.api("POST", `${PATH}/generate/`, {
        body: {
          common_name: "gen.example.test",
          subject_alt_name: "gen.example.test,alt.example.test",
          validity_days: 30,
          alg: "ecdsa",
        },
      });
      expect(made.status, made.text).toBe(200);
      expect(made.body).toMatchObject({
        name: "gen.example.test",
        key_type: "ec",
        private_key_available: true,
        managed: null,
        cert_subject: "OU=Self-signed,O=authentik,CN=gen.example.test",
        certificate_download_url: `${PATH}/${made.body.pk}/view_certificate/?download`,
        private_key_download_url: `${PATH}/${made.body.pk}/view_private_key/?download`,
      });
      expect(made.text).not.toContain("PRIVATE KEY");
      const expiry = Date.parse(made.body.cert_expiry) - Date.now();
      expect(Math.abs(expiry - 30 * 86_400_000)).toBeLessThan(120_000);

      const got = await t.api("GET", `${PATH}/${made.body.pk}/`);
      expect(got.body).toEqual(made.body);
      const pem = (await t.api("GET", `${PATH}/${made.body.pk}/view_certificate/`)).body.data;
      expect(pem).toContain("BEGIN CERTIFICATE");
      expect(got.body.fingerprint_sha256).toBe(opensslFingerprint(pem, "sha256"));
      expect(got.body.fingerprint_sha1).toBe(opensslFingerprint(pem, "sha1"));
      const text = openssl(["x509", "-noout", "-text"], pem);
      expect(text).toContain("DNS:gen.example.test, DNS:alt.example.test");

      // The generated key is the certificate's.
      const key = (await t.api("GET", `${PATH}/${made.body.pk}/view_private_key/`)).body.data;
      writeFileSync(join(dir, "gen.key"), key);
      writeFileSync(join(dir, "gen.crt"), pem);
      const fromKey = openssl(["pkey", "-in", join(dir, "gen.key"), "-pubout"]);
      const fromCert = openssl(["x509", "-in", join(dir, "gen.crt"), "-noout", "-pubkey"]);
      expect(fromKey).toBe(fromCert);
    });

    test("generate makes RSA by default and Ed25519 on request", async () => {
      const made = await t.api("POST", `${PATH}/generate/`, {
        body: { common_name: "rsa-gen", validity_days: 1 },
      });
      expect(made.status, made.text).toBe(200);
      expect(made.body.key_type).toBe("rsa");
      const ed = await t.api("POST", `${PATH}/generate/`, {
        body: { common_name: "ed-gen", validity_days: 1, alg: "ed25519" },
      });
      expect(ed.body.key_type).toBe("ed25519");
      const bad = await t.api("POST", `${PATH}/generate/`, { body: { common_name: "x", alg: "dsa" } });
      expect(bad.status).toBe(400);
      expect(bad.body).toHaveProperty("validity_days");
      expect(bad.body).toHaveProperty("alg");
    });

    test("a PEM pair made by openssl imports, and its facts are read from it", async () => {
      const res = await t.api("POST", `${PATH}/`, {
        body: { name: "imported-rsa", certificate_data: rsa.cert, key_data: rsa.key },
      });
      expect(res.status, res.text).toBe(201);
      expect(res.body).toMatchObject({
        name: "imported-rsa",
        key_type: "rsa",
        private_key_available: true,
        cert_subject: "CN=rsa.example.test,O=Example\\, Inc,C=US",
        fingerprint_sha256: opensslFingerprint(rsa.cert, "sha256"),
        fingerprint_sha1: opensslFingerprint(rsa.cert, "sha1"),
      });
      const certOnly = await t.api("POST", `${PATH}/`, {
        body: { name: "imported-ec-cert-only", certificate_data: ec.cert },
      });
      expect(certOnly.status, certOnly.text).toBe(201);
      expect(certOnly.body).toMatchObject({ key_type: "ec", private_key_available: false });
      const noKey = await t.api("GET", `${PATH}/${certOnly.body.pk}/view_private_key/`);
      expect(noKey.body).toEqual({ data: "" });
    });

    test("a key that is not the certificate's, and garbage PEM, are refused with field errors", async () => {
      const mismatch = await t.api("POST", `${PATH}/`, {
        body: { name: "mismatch", certificate_data: rsa.cert, key_data: ec.key },
      });
      expect(mismatch.status).toBe(400);
      expect(mismatch.body).toEqual({ key_data: ["Private key does not match the certificate."] });

      const garbage = await t.api("POST", `${PATH}/`, {
        body: {
          name: "garbage",
          certificate_data: "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n",
        },
      });
      expect(garbage.status).toBe(400);
      expect(garbage.body).toEqual({ certificate_data: ["Unable to load certificate."] });

      const badKey = await t.api("POST", `${PATH}/`, {
        body: { name: "bad-key", certificate_data: ec.cert, key_data: "not a key" },
      });
      expect(badKey.status).toBe(400);
      expect(badKey.body).toHaveProperty("key_data");

      const taken = await t.api("POST", `${PATH}/`, {
        body: { name: "imported-rsa", certificate_data: ec.cert },
      });
      expect(taken.status).toBe(400);
      expect(taken.body).toHaveProperty("name");
      expect((await t.api("GET", `${PATH}/?name=mismatch`)).body.pagination.count).toBe(0);
    });

    test("list output never holds a private key; filters and search narrow it", async () => {
      const list = await t.api("GET", `${PATH}/?page_size=100`);
      expect(list.status).toBe(200);
      expect(list.body.pagination.count).toBeGreaterThanOrEqual(5);
      expect(list.text).not.toContain("PRIVATE KEY");
      expect(list.text).not.toContain("key_data");
      expect(list.text).not.toContain("certificate_data");
      const names = list.body.results.map((r: { name: string }) => r.name);
      expect(names).toEqual([...names].sort());

      const withKey = await t.api("GET", `${PATH}/?has_key=true`);
      expect(
        withKey.body.results.every((r: { private_key_available: boolean }) => r.private_key_available),
      ).toBe(true);
      expect(withKey.body.results.map((r: { name: string }) => r.name)).not.toContain(
        "imported-ec-cert-only",
      );
      const ecOnly = await t.api("GET", `${PATH}/?key_type=ec`);
      expect(new Set(ecOnly.body.results.map((r: { key_type: string }) => r.key_type))).toEqual(
        new Set(["ec"]),
      );
      const several = await t.api("GET", `${PATH}/?key_type=rsa&key_type=ed25519`);
      expect(new Set(several.body.results.map((r: { key_type: string }) => r.key_type))).toEqual(
        new Set(["rsa", "ed25519"]),
      );
      const unknownType = await t.api("GET", `${PATH}/?key_type=rsa,quantum`);
      expect(unknownType.status).toBe(400);
      expect(unknownType.body).toHaveProperty("key_type");
      const search = await t.api("GET", `${PATH}/?search=IMPORTED`);
      expect(search.body.results.map((r: { name: string }) => r.name)).toEqual([
        "imported-ec-cert-only",
        "imported-rsa",
      ]);
      const desc = await t.api("GET", `${PATH}/?search=imported&ordering=-name&page_size=1`);
      expect(desc.body.results.map((r: { name: string }) => r.name)).toEqual(["imported-rsa"]);
      expect(desc.body.pagination).toMatchObject({ count: 2, next: 2, total_pages: 2 });
    });

    test("only superusers may use the endpoints", async () => {
      const user = await t.api("POST", "/api/v3/core/users/", {
        body: { username: "plain", name: "Plain", email: "plain@example.test" },
      });
      const token = await t.api("POST", "/api/v3/core/tokens/", {
        body: { identifier: "plain-token", intent: "api", user: user.body.pk, expiring: false },
      });
      expect(token.status, token.text).toBe(201);
      const key = (await t.api("GET", "/api/v3/core/tokens/plain-token/view_key/")).body.key;
      const pair = (await t.api("GET", `${PATH}/?name=imported-rsa`)).body.results[0];
      for (const [method, path] of [
        ["GET", `${PATH}/`],
        ["GET", `${PATH}/${pair.pk}/`],
        ["GET", `${PATH}/${pair.pk}/view_certificate/`],
        ["GET", `${PATH}/${pair.pk}/view_private_key/`],
        ["GET", `${PATH}/${pair.pk}/used_by/`],
        ["DELETE", `${PATH}/${pair.pk}/`],
        ["POST", `${PATH}/generate/`],
      ] as const) {
        const res = await t.api(method, path, { token: key, body: method === "POST" ? {} : undefined });
        expect(res.status, `${method} ${path}`).toBe(403);
        expect(res.text).not.toContain("PRIVATE KEY");
      }
      expect((await t.api("GET", `${PATH}/`, { token: null })).status).toBe(403);
    });

    test("view_certificate and view_private_key download as PEM attachments, and are logged", async () => {
      const pair = (await t.api("GET", `${PATH}/?name=imported-rsa`)).body.results[0];
      const key = await t.api("GET", `${PATH}/${pair.pk}/view_private_key/?download`);
      expect(key.status).toBe(200);
      expect(key.headers.get("content-type")).toBe("application/x-pem-file");
      expect(key.headers.get("content-disposition")).toStartWith(
        'attachment; filename="imported-rsa_private_key.pem"',
      );
      expect(key.text).toBe(rsa.key);
      const cert = await t.api("GET", `${PATH}/${pair.pk}/view_certificate/?download`);
      expect(cert.headers.get("content-disposition")).toStartWith(
        'attachment; filename="imported-rsa_certificate.pem"',
      );
      expect(cert.text).toBe(rsa.cert);
      const events = await t.api("GET", "/api/v3/events/events/?action=secret_view&page_size=100");
      const types = events.body.results
        .filter((e: { context: { secret?: { pk: string } } }) => e.context.secret?.pk === pair.pk)
        .map((e: { context: { type: string } }) => e.context.type);
      expect(types).toContain("private_key");
      expect(types).toContain("certificate");
      // The key is in no log line and no event.
      expect(JSON.stringify(t.logs)).not.toContain("PRIVATE KEY");
      expect(JSON.stringify(events.body)).not.toContain("PRIVATE KEY");
    });

    test("an LDAP provider's certificate must exist; used_by lists it; changes reach its outposts", async () => {
      const auth = (await t.api("GET", "/api/v3/flows/instances/default-authentication-flow/")).body.pk;
      const logout = (await t.api("GET", "/api/v3/flows/instances/default-invalidation-flow/")).body.pk;
      const missing = await t.api("POST", "/api/v3/providers/ldap/", {
        body: {
          name: "tls-directory",
          authorization_flow: auth,
          invalidation_flow: logout,
          certificate: crypto.randomUUID(),
        },
      });
      expect(missing.status).toBe(400);
      expect(missing.body).toHaveProperty("certificate");

      const pair = (
        await t.api("POST", `${PATH}/generate/`, {
          body: { common_name: "ldap.example.test", validity_days: 10, alg: "ecdsa" },
        })
      ).body;
      const provider = await t.api("POST", "/api/v3/providers/ldap/", {
        body: {
          name: "tls-directory",
          authorization_flow: auth,
          invalidation_flow: logout,
          base_dn: "dc=tls,dc=example",
          certificate: pair.pk,
        },
      });
      expect(provider.status, provider.text).toBe(201);
      const outpost = await t.api("POST", "/api/v3/outposts/instances/", {
        body: { name: "ldap-tls", type: "ldap", providers: [provider.body.pk], config: {} },
      });
      expect(outpost.status, outpost.text).toBe(201);

      const used = await t.api("GET", `${PATH}/${pair.pk}/used_by/`);
      expect(used.status).toBe(200);
      expect(used.body).toEqual([
        {
          app: "authentik_providers_ldap",
          model_name: "ldapprovider",
          pk: String(provider.body.pk),
          name: "LDAP Provider tls-directory",
          action: "set_null",
        },
      ]);

      // The outpost reads the pair its provider uses (to serve TLS), and nothing else.
      const key = (await t.api("GET", `/api/v3/core/tokens/${outpost.body.token_identifier}/view_key/`)).body
        .key;
      const other = (
        await t.api("POST", `${PATH}/generate/`, {
          body: { common_name: "other.example.test", validity_days: 10, alg: "ecdsa" },
        })
      ).body;
      const asOutpost = (path: string) => t.api("GET", path, { token: key });
      expect((await asOutpost(`${PATH}/${pair.pk}/`)).status).toBe(200);
      expect((await asOutpost(`${PATH}/${pair.pk}/view_certificate/`)).body.data).toContain(
        "BEGIN CERTIFICATE",
      );
      expect((await asOutpost(`${PATH}/${pair.pk}/view_private_key/`)).body.data).toContain("PRIVATE KEY");
      expect((await asOutpost(`${PATH}/${other.pk}/view_private_key/`)).status).toBe(403);
      expect((await asOutpost(`${PATH}/${other.pk}/`)).status).toBe(403);
      expect((await asOutpost(`${PATH}/`)).status).toBe(403);
      expect((await asOutpost(`${PATH}/${pair.pk}/used_by/`)).status).toBe(403);
      expect((await t.api("DELETE", `${PATH}/${pair.pk}/`, { token: key })).status).toBe(403);
      await t.api("DELETE", `${PATH}/${other.pk}/`);

      const heard: Signal[] = [];
      const off = t.core.ctx.signals.on((s) => heard.push(s));
      try {
        const renamed = await t.api("PATCH", `${PATH}/${pair.pk}/`, { body: { name: "ldap-tls-cert" } });
        expect(renamed.status, renamed.text).toBe(200);
        expect(renamed.body.name).toBe("ldap-tls-cert");
        expect(heard).toContainEqual({ kind: "outpost_changed", outpost: outpost.body.pk });

        heard.length = 0;
        const gone = await t.api("DELETE", `${PATH}/${pair.pk}/`);
        expect(gone.status).toBe(204);
        expect(heard).toContainEqual({ kind: "outpost_changed", outpost: outpost.body.pk });
      } finally {
        off();
      }
      expect((await t.api("GET", `${PATH}/${pair.pk}/`)).status).toBe(404);
      const after = await t.api("GET", `/api/v3/providers/ldap/${provider.body.pk}/`);
      expect(after.body.certificate).toBeNull();
    });

    test("update replaces the certificate and keeps the stored key only if it still matches", async () => {
      const made = await t.api("POST", `${PATH}/`, {
        body: { name: "rotating", certificate_data: ec.cert, key_data: ec.key },
      });
      expect(made.status, made.text).toBe(201);
      const refused = await t.api("PATCH", `${PATH}/${made.body.pk}/`, {
        body: { certificate_data: rsa.cert },
      });
      expect(refused.status).toBe(400);
      expect(refused.body).toHaveProperty("key_data");
      const put = await t.api("PUT", `${PATH}/${made.body.pk}/`, {
        body: { name: "rotated", certificate_data: rsa.cert, key_data: rsa.key, pk: made.body.pk },
      });
      expect(put.status, put.text).toBe(200);
      expect(put.body).toMatchObject({
        name: "rotated",
        key_type: "rsa",
        fingerprint_sha256: opensslFingerprint(rsa.cert, "sha256"),
      });
      const events = await t.api("GET", "/api/v3/events/events/?action=model_updated&page_size=100");
      expect(
        events.body.results.some(
          (e: { context: { model?: { pk: string; model_name: string } } }) =>
            e.context.model?.pk === made.body.pk && e.context.model?.model_name === "certificatekeypair",
        ),
      ).toBe(true);
      expect((await t.api("DELETE", `${PATH}/${made.body.pk}/`)).status).toBe(204);
      expect((await t.api("DELETE", `${PATH}/${made.body.pk}/`)).status).toBe(404);
      expect((await t.api("GET", `${PATH}/not-a-uuid/`)).status).toBe(404);
    });
  });
}
