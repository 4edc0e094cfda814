/**
 * The server-rendered pages of interactive sign-in: no script, no external asset, one inline
 * style sheet (allowed by the page's Content-Security-Policy by its hash). Every value written
 * into a page goes through `esc`.
 */
import { createHash } from 'node:crypto';

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f4f6;margin:0;color:#1f2937}
main{max-width:380px;margin:10vh auto;background:#fff;padding:32px 36px;border-radius:8px;box-shadow:0 2px 12px rgba(0,0,0,.12)}
h1{font-size:22px;margin:0 0 4px}p{font-size:14px;line-height:1.45}.app{color:#4b5563;margin-top:0}
label{display:block;font-size:13px;margin:14px 0 4px;color:#374151}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:9px 10px;font-size:15px;border:1px solid #9ca3af;border-radius:4px}
button{margin-top:20px;width:100%;padding:10px;font-size:15px;background:#1d4ed8;color:#fff;border:0;border-radius:4px;cursor:pointer}
.error{background:#fef2f2;color:#991b1b;border:1px solid #fecaca;padding:8px 10px;border-radius:4px;font-size:13px}
.brand{font-weight:600;color:#1d4ed8;font-size:13px;letter-spacing:.05em;text-transform:uppercase}
`;

export const PAGE_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; img-src 'none'; frame-ancestors 'none'; base-uri 'none'`;

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer"><title>${esc(title)}</title><style>${STYLE}</style></head><body><main><div class="brand">Keyledger</div>${body}</main></body></html>`;
}

const hidden = (fields: Record<string, string>): string =>
  Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join('');

const errorBox = (error: string | undefined): string => (error ? `<p class="error" role="alert" id="error">${esc(error)}</p>` : '');

/** The sign-in form of the authorization endpoint. */
export function signInPage(o: { action: string; appName: string; ctx: string; username?: string; error?: string }): string {
  return page(
    'Sign in',
    `<h1>Sign in</h1><p class="app">to continue to <b>${esc(o.appName)}</b></p>${errorBox(o.error)}
<form method="post" action="${esc(o.action)}" autocomplete="on">${hidden({ ctx: o.ctx })}
<label for="username">User name</label><input type="text" id="username" name="username" autocomplete="username" required value="${esc(o.username ?? '')}">
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit" id="submit">Sign in</button></form>`,
  );
}

/** The device code verification page: the code shown on the device, and the user's credentials. */
export function deviceLoginPage(o: { action: string; ctx: string; userCode?: string; username?: string; error?: string }): string {
  return page(
    'Enter code',
    `<h1>Enter code</h1><p class="app">Enter the code displayed on your device or in your application, then sign in.</p>${errorBox(o.error)}
<form method="post" action="${esc(o.action)}" autocomplete="on">${hidden({ ctx: o.ctx })}
<label for="otc">Code</label><input type="text" id="otc" name="otc" autocomplete="off" required value="${esc(o.userCode ?? '')}">
<label for="username">User name</label><input type="text" id="username" name="username" autocomplete="username" required value="${esc(o.username ?? '')}">
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit" id="submit">Next</button></form>`,
  );
}

export function messagePage(title: string, message: string, error = false): string {
  return page(title, `<h1>${esc(title)}</h1><p${error ? ' class="error" role="alert" id="error"' : ' id="message"'}>${esc(message)}</p>`);
}

/** After sign-out (with a note when the application could not be returned to). */
export function signedOutPage(note?: string): string {
  return page('Signed out', `<h1>You signed out of your account</h1><p id="message">It's a good idea to close all browser windows.</p>${errorBox(note)}`);
}
