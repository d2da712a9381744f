// Serves the web UI's files (built into dist/web by agent/web/build.ts) at /ui/, in front of the
// API: GET only, a fixed list of names (no path from the request ever reaches the file system),
// gzip when the browser takes it, a strict Content-Security-Policy, and no token needed (the files
// hold no secret; the page asks the API, which checks the token). A Host header that is not an IP
// address or localhost is refused, as the API does (DNS rebinding).
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

export const UI_PREFIX = '/ui/';
const FILES: Record<string, string> = { 'index.html': 'text/html; charset=utf-8', 'app.js': 'text/javascript; charset=utf-8', 'style.css': 'text/css; charset=utf-8', 'revoke.js': 'text/javascript; charset=utf-8' };
export const UI_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/**
 * Where the built files are: `$KITH_WEB_DIR` when set; dist/web next to dist/agent (Node), or
 * from the sources (Bun); `web/` next to the Node bundle (packaging/out/kith-node/kith.mjs); or
 * `../share/kith/web/` from the executable (the .deb's /usr/bin/kith → /usr/share/kith/web).
 */
function webDir(): string | undefined {
  const env = process.env['KITH_WEB_DIR'];
  const candidates = [
    ...(env ? [env.endsWith('/') ? env : `${env}/`] : []),
    ...['../web/', '../dist/web/', './web/'].map((rel) => new URL(rel, import.meta.url).pathname),
    `${path.dirname(path.dirname(process.execPath))}/share/kith/web/`,
  ];
  return candidates.find((dir) => fs.existsSync(`${dir}index.html`));
}

const HOST = /^(localhost|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

export function uiHandler(): (req: Request) => Response | undefined {
  const dir = webDir();
  const cache = new Map<string, { raw: Buffer; gz: Buffer }>();
  const load = (name: string) => {
    let f = cache.get(name);
    if (f === undefined && dir !== undefined) {
      const raw = fs.readFileSync(dir + name);
      f = { raw, gz: gzipSync(raw, { level: 9 }) };
      cache.set(name, f);
    }
    return f;
  };
  return (req) => {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return undefined; // Bun makes no URL of an empty Host: the API's guard refuses the request
    }
    if (url.pathname === '/ui') return new Response(null, { status: 308, headers: { location: UI_PREFIX } });
    if (!url.pathname.startsWith(UI_PREFIX) || req.method !== 'GET') return undefined;
    if (!HOST.test(req.headers.get('host') ?? '')) return Response.json({ error: { code: 'API_HOST_REFUSED', message: 'the Host header does not name this API', hint: 'open the UI from the link `kith ui` prints' } }, { status: 403 });
    const name = url.pathname.slice(UI_PREFIX.length) || 'index.html';
    const type = FILES[name];
    if (type === undefined) return undefined; // the API's own /ui/ routes (/ui/login), or its 404
    const file = type === undefined ? undefined : load(name);
    if (file === undefined) return new Response(dir === undefined ? 'the web UI is not built (npm run build)' : 'not found', { status: 404 });
    const gzip = /\bgzip\b/.test(req.headers.get('accept-encoding') ?? '');
    const headers: Record<string, string> = { 'content-type': type!, 'content-security-policy': UI_CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-cache', vary: 'accept-encoding' };
    if (gzip) headers['content-encoding'] = 'gzip';
    return new Response(new Uint8Array(gzip ? file.gz : file.raw), { headers });
  };
}
