/**
 * A small browser for the real-application tests: a cookie jar, redirects followed by hand
 * (each hop asserted by the test when it matters), form fields read from HTML, urlencoded and
 * multipart bodies. Plain node:http against the gateway; no dependency.
 */
import { request } from 'node:http';

export interface Page {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  readonly text: string;
}

export class Browser {
  readonly base: string;
  private readonly cookies = new Map<string, string>();

  constructor(base: string) {
    this.base = base;
  }

  get cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async get(path: string): Promise<Page> {
    return this.send('GET', path);
  }

  async postForm(path: string, fields: Record<string, string>): Promise<Page> {
    const body = new URLSearchParams(fields).toString();
    return this.send('POST', path, Buffer.from(body), 'application/x-www-form-urlencoded');
  }

  async postMultipart(
    path: string,
    fields: Record<string, string>,
    file: { readonly field: string; readonly name: string; readonly type: string; readonly data: Buffer },
  ): Promise<Page> {
    const boundary = `----portico${Date.now().toString(16)}`;
    const parts: Buffer[] = [];
    for (const [k, v] of Object.entries(fields)) {
      parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
    }
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${file.field}"; filename="${file.name}"\r\nContent-Type: ${file.type}\r\n\r\n`,
      ),
      file.data,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    );
    return this.send('POST', path, Buffer.concat(parts), `multipart/form-data; boundary=${boundary}`);
  }

  /** Follows Location (same origin) up to `hops` times with GET. */
  async follow(page: Page, hops = 5): Promise<Page> {
    let current = page;
    for (let i = 0; i < hops && current.status >= 300 && current.status < 400; i++) {
      const location = String(current.headers.location ?? '');
      const url = new URL(location, this.base);
      current = await this.get(url.pathname + url.search);
    }
    return current;
  }

  send(method: string, path: string, body?: Buffer, type?: string): Promise<Page> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = {};
      if (this.cookies.size > 0) headers.cookie = this.cookieHeader;
      if (body !== undefined) {
        headers['content-type'] = type ?? 'application/octet-stream';
        headers['content-length'] = body.length;
      }
      const req = request(`${this.base}${path}`, { method, headers }, (res) => {
        for (const c of res.headers['set-cookie'] ?? []) {
          const [pair] = c.split(';');
          const eq = (pair ?? '').indexOf('=');
          if (eq <= 0) continue;
          const name = (pair as string).slice(0, eq).trim();
          const value = (pair as string).slice(eq + 1).trim();
          if (value === '' || value === 'deleted' || /max-age=0|expires=thu, 01 jan 1970/i.test(c))
            this.cookies.delete(name);
          else this.cookies.set(name, value);
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const all = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: all,
            text: all.toString('utf8'),
          });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** The value of the first `<input name="NAME" value="...">` in `html` (attribute order free). */
export function inputValue(html: string, name: string): string | undefined {
  for (const m of html.matchAll(/<input\b[^>]*>/gi)) {
    const tag = m[0];
    if (!new RegExp(`\\bname=["']${name.replace(/[[\]]/g, '\\$&')}["']`).test(tag)) continue;
    const v = /\bvalue=["']([^"']*)["']/.exec(tag);
    return v === null ? '' : decodeEntities(v[1] as string);
  }
  return undefined;
}

function decodeEntities(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#0?39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** A valid 1x1 PNG: what an image upload test sends and expects back byte for byte. */
export const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==',
  'base64',
);
