/**
 * /setup/?token=…: the one-time page printed at first start when akadmin has no password. It sets the
 * password once; the token is then gone. (The login flows of a later milestone replace what it leads to.)
 */
import { Elysia } from "elysia";
import { sha256Hex } from "../../../shared/crypto.ts";
import { audit } from "../api/audit.ts";
import { requestMeta } from "../api/request.ts";
import { SETUP_TOKEN_PREFIX } from "../bootstrap.ts";
import { type CoreContext, inTransaction } from "../context.ts";
import { isExpired } from "../tokens/service.ts";
import { hashPassword, setPasswordHash } from "../users/service.ts";

const MIN_PASSWORD = 8;

function page(title: string, body: string, status = 200): Response {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Gatehouse</title><style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}
label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem}.error{color:#b00020}</style></head>
<body><h1>${title}</h1>${body}</body></html>`;
  return new Response(html, {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
      // Not "no-referrer": under it browsers send `Origin: null` with the form's POST, which the
      // Origin check refuses. "same-origin" still keeps the token in the URL from leaving the site.
      "referrer-policy": "same-origin",
    },
  });
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function form(token: string, error?: string): Response {
  return page(
    "Set the administrator's password",
    `<p>Choose a password for <strong>akadmin</strong>. This link works once.</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ""}
<form method="post" action="/setup/"><input type="hidden" name="token" value="${escapeHtml(token)}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="new-password" required minlength="${MIN_PASSWORD}" autofocus>
<label for="repeat">Repeat password</label><input id="repeat" name="password_repeat" type="password" autocomplete="new-password" required>
<button type="submit">Set password</button></form>`,
    error ? 400 : 200,
  );
}

const invalid = () =>
  page(
    "Link invalid",
    "<p>This setup link is invalid, used or expired. Restart Gatehouse to print a new one.</p>",
    404,
  );

export function setupPage(ctx: CoreContext) {
  const findToken = async (key: string) => {
    const row = await ctx.store.db
      .selectFrom("tokens")
      .selectAll()
      .where("key_hash", "=", sha256Hex(key))
      .where("intent", "=", "recovery")
      .where("identifier", "like", `${SETUP_TOKEN_PREFIX}%`)
      .executeTakeFirst();
    return row && !isExpired(row, ctx.clock()) ? row : undefined;
  };

  return new Elysia()
    .get("/setup/", async ({ request }) => {
      const token = new URL(request.url).searchParams.get("token") ?? "";
      return token && (await findToken(token)) ? form(token) : invalid();
    })
    .post("/setup/", async ({ request, body }) => {
      const origin = request.headers.get("origin");
      if (origin && origin !== new URL(request.url).origin) {
        return page("Refused", "<p>Cross-site request refused.</p>", 403);
      }
      const fields = (body ?? {}) as Record<string, unknown>;
      const token = typeof fields.token === "string" ? fields.token : "";
      const password = typeof fields.password === "string" ? fields.password : "";
      const row = token ? await findToken(token) : undefined;
      if (!row) return invalid();
      if (password.length < MIN_PASSWORD)
        return form(token, `The password must be at least ${MIN_PASSWORD} characters.`);
      if (password !== fields.password_repeat) return form(token, "The passwords do not match.");
      const hash = await hashPassword(password);
      const done = await inTransaction(ctx, async (trx) => {
        // Deleting first makes a concurrent second use find nothing.
        const gone = await trx
          .deleteFrom("tokens")
          .where("token_uuid", "=", row.token_uuid)
          .executeTakeFirst();
        if (Number(gone.numDeletedRows) !== 1) return false;
        const user = await setPasswordHash(ctx, trx, row.user_id, hash);
        await audit(ctx, trx, undefined, requestMeta(request), "password_set", {
          user: { pk: user.id, username: user.username },
          via: "setup",
        });
        return true;
      });
      if (!done) return invalid();
      return page("Password set", "<p>akadmin's password is set. You can now sign in.</p>");
    });
}
