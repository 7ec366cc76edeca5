/** HTML shells for the flow and user pages: brand title, logo and favicon, and one module script. */
import type { currentBrand } from "../brands/service.ts";

type Brand = Awaited<ReturnType<typeof currentBrand>>;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const CSP =
  "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'";

export const SECURITY_HEADERS = {
  "content-security-policy": `${CSP}; form-action 'self'`,
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
};

export function page(brand: Brand, body: string, script: string): Response {
  const title = escapeHtml(brand.branding_title);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="icon" href="${escapeHtml(brand.branding_favicon)}">
<style>
body { margin: 0; background: #eef1f5; font-family: system-ui, sans-serif; }
.card { box-sizing: border-box; max-width: 28rem; margin: 2rem auto; padding: 1.5rem; background: #fff; border-radius: 10px; box-shadow: 0 1px 4px rgb(0 0 0 / 12%); }
.card.wide { max-width: 48rem; }
.brand { display: block; height: 2.5rem; margin: 0 auto 1rem; }
@media (max-width: 30rem) { .card { margin: 0; border-radius: 0; min-height: 100vh; } }
</style>
${brand.branding_custom_css ? `<style>${brand.branding_custom_css.replace(/<\/style/gi, "")}</style>` : ""}
</head>
<body>
<div class="card${script === "user.js" ? " wide" : ""}">
<img class="brand" src="${escapeHtml(brand.branding_logo)}" alt="${title}">
${body}
</div>
<script type="module" src="/static/dist/${script}"></script>
</body>
</html>`;
  return new Response(html, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      ...SECURITY_HEADERS,
      // A flow may end by posting its answer to an OAuth2 client (response_mode=form_post), or by
      // loading clients' front-channel logout URLs in iframes (oauth2/frontchannel.ts).
      ...(script === "flow.js" && { "content-security-policy": `${CSP}; frame-src https: http:` }),
    },
  });
}

export const LOGO_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 150 40" role="img"><rect x="2" y="6" width="26" height="28" rx="4" fill="#1d4ed8"/><path d="M9 34V20a6 6 0 0 1 12 0v14" fill="none" stroke="#fff" stroke-width="3"/><text x="36" y="27" font-family="system-ui, sans-serif" font-size="17" font-weight="700" fill="#1b1d21">Gatehouse</text></svg>`;

/** A plain page for errors that must be shown to the user rather than sent anywhere (bad redirect URI). */
export function messagePage(brand: Brand, title: string, message: string, status: number): Response {
  const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} — ${escapeHtml(brand.branding_title)}</title>
<style>body{margin:0;background:#eef1f5;font-family:system-ui,sans-serif}.card{max-width:28rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:10px;box-shadow:0 1px 4px rgb(0 0 0/12%)}</style>
</head>
<body><div class="card"><h1>${escapeHtml(title)}</h1><p data-testid="message">${escapeHtml(message)}</p></div></body>
</html>`;
  return new Response(html, {
    status,
    headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", ...SECURITY_HEADERS },
  });
}

/**
 * An HTML form that posts itself to `url` (OAuth 2.0 Form Post Response Mode). The inline script is
 * allowed by its nonce alone; without scripts the button still works.
 */
export function autoSubmitPage(url: string, fields: Record<string, string>): Response {
  const nonce = crypto.randomUUID().replace(/-/g, "");
  const inputs = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join("");
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Continue</title></head>
<body><form method="post" action="${escapeHtml(url)}">${inputs}<noscript><button type="submit">Continue</button></noscript></form>
<script nonce="${nonce}">document.forms[0].submit()</script></body></html>`;
  return new Response(html, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": `default-src 'none'; script-src 'nonce-${nonce}'; frame-ancestors 'none'; base-uri 'none'`,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    },
  });
}
