/**
 * /device, where a user types the code their device shows (RFC 8628 §3.3; authentik's root-level
 * DeviceEntryView). A signed-out user goes through the brand's device code flow (else its
 * authentication flow) and comes back. A signed-in user gets a small form, prefilled from ?code= but
 * never submitted by a link: a valid pending code plans the provider's authorization flow
 * (device-approve.ts).
 *
 * The POST needs the session cookie, a token derived from the session (so another site cannot post
 * it) and no cross-site Sec-Fetch-Site or Origin. Wrong codes lower a reputation score of their own
 * (`device-code:<username>`); after DEVICE_GUESS_LIMIT of them, no more codes are taken until the
 * score expires (reputation.expiry_seconds) or an administrator deletes it.
 */
import { Elysia } from "elysia";
import { constantTimeEqual, sha256Hex } from "../../../shared/crypto.ts";
import { requestMeta } from "../api/request.ts";
import { currentBrand } from "../brands/service.ts";
import type { CoreContext } from "../context.ts";
import { flowSession } from "../flows/executor/session.ts";
import { reputationScore, updateReputation } from "../policies/reputation.ts";
import { isPast } from "../store/codec.ts";
import { messagePage, SECURITY_HEADERS } from "../ui/pages.ts";
import type { UserRow } from "../users/serialize.ts";
import { displayUserCode, normalizeUserCode } from "./device.ts";
import { DeviceCodeProblem, planDeviceApproval } from "./device-approve.ts";

export const DEVICE_GUESS_LIMIT = 5;

type Brand = Awaited<ReturnType<typeof currentBrand>>;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const hostOf = (request: Request) => request.headers.get("host") ?? new URL(request.url).host;
const formToken = (sessionId: string) => sha256Hex(`device-entry:${sessionId}`);
const redirect = (location: string) =>
  new Response(null, { status: 303, headers: { location, "cache-control": "no-store" } });

function entryPage(brand: Brand, csrf: string, code: string, error = "", status = 200): Response {
  const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Device login — ${escapeHtml(brand.branding_title)}</title>
<style>body{margin:0;background:#eef1f5;font-family:system-ui,sans-serif}.card{max-width:28rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:10px;box-shadow:0 1px 4px rgb(0 0 0/12%)}input{box-sizing:border-box;width:100%;font-size:1.5rem;letter-spacing:.2em;text-transform:uppercase;padding:.4rem;margin:.5rem 0}button{font-size:1rem;padding:.5rem 1rem}.error{color:#b91c1c}</style>
</head>
<body><div class="card"><h1>Device login</h1>
<form method="post" action="/device">
<label for="code">Enter the code shown on your device.</label>
<input id="code" name="code" value="${escapeHtml(code)}" autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="20" required autofocus>
<input type="hidden" name="csrf" value="${csrf}">
${error ? `<p class="error" role="alert" data-testid="error">${escapeHtml(error)}</p>` : ""}
<button type="submit">Continue</button>
</form></div></body>
</html>`;
  return new Response(html, {
    status,
    headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", ...SECURITY_HEADERS },
  });
}

/** Sends a signed-out browser to sign in, then back here with the code it brought. */
function signIn(brand: Brand, code: string): Response {
  const flow = brand.flow_device_code || brand.flow_authentication || "default-authentication-flow";
  const back = code ? `/device?code=${encodeURIComponent(code)}` : "/device";
  return redirect(`/if/flow/${encodeURIComponent(flow)}/?next=${encodeURIComponent(back)}`);
}

/** A browser posting from another site: refused (the form token is the main guard; this is belt too). */
function crossSite(request: Request): boolean {
  const site = request.headers.get("sec-fetch-site");
  if (site && site !== "same-origin" && site !== "none") return true;
  const origin = request.headers.get("origin");
  if (!origin) return false;
  try {
    return new URL(origin).host !== hostOf(request);
  } catch {
    return true;
  }
}

/** How many more wrong codes a user may enter; 0 when the limit is reached. */
async function guessesLeft(ctx: CoreContext, user: UserRow): Promise<number> {
  const floor = Math.min(DEVICE_GUESS_LIMIT, -ctx.config["reputation.lower_limit"]);
  if (floor <= 0) return DEVICE_GUESS_LIMIT;
  const score = await reputationScore(ctx, { identifier: `device-code:${user.username}` });
  return Math.max(0, floor + score);
}

async function submitCode(ctx: CoreContext, request: Request): Promise<Response> {
  const brand = await currentBrand(ctx.store.db, hostOf(request));
  const type = request.headers.get("content-type") ?? "";
  const form = type.startsWith("application/x-www-form-urlencoded")
    ? new URLSearchParams(await request.text())
    : new URLSearchParams();
  const typed = (form.get("code") ?? "").slice(0, 20);
  const session = await flowSession(ctx, request);
  if (!session.user) return signIn(brand, typed);
  const csrf = formToken(session.id);
  if (crossSite(request) || !constantTimeEqual(form.get("csrf") ?? "", csrf))
    return entryPage(brand, csrf, typed, "This form has expired. Please enter the code again.", 403);
  if ((await guessesLeft(ctx, session.user)) === 0)
    return entryPage(brand, csrf, "", "Too many wrong codes were entered. Please try again later.", 429);
  const userCode = normalizeUserCode(typed);
  const row = userCode
    ? await ctx.store.db
        .selectFrom("oauth2_device_codes")
        .select(["device_code_hash", "provider_id", "scope", "status", "expires"])
        .where("user_code", "=", userCode)
        .executeTakeFirst()
    : undefined;
  if (!userCode || !row) {
    await updateReputation(ctx, `device-code:${session.user.username}`, requestMeta(request).ip, -1);
    return entryPage(brand, csrf, typed, "This code is not valid. Check it and try again.", 400);
  }
  const shown = displayUserCode(userCode);
  if (isPast(row.expires, ctx.clock()))
    return entryPage(brand, csrf, shown, "This code has expired. Start again on your device.", 400);
  if (row.status !== "pending")
    return entryPage(brand, csrf, shown, "This code was already used. Start again on your device.", 400);
  try {
    return redirect(await planDeviceApproval(ctx, request, session.id, session.user, row));
  } catch (err) {
    if (err instanceof DeviceCodeProblem) return messagePage(brand, "Device login", err.message, 400);
    throw err;
  }
}

export function devicePageController(ctx: CoreContext) {
  return new Elysia()
    .get("/device", async ({ request }) => {
      const brand = await currentBrand(ctx.store.db, hostOf(request));
      const code = (new URL(request.url).searchParams.get("code") ?? "").slice(0, 20);
      const session = await flowSession(ctx, request);
      if (!session.user) return signIn(brand, code);
      return entryPage(brand, formToken(session.id), code);
    })
    .post("/device", ({ request }) => submitCode(ctx, request), { parse: "none" });
}
