/**
 * The demo pages, one handler per backend (`scgi` under /scgi/, `fastcgi` under /fcgi/), both
 * written against the shared BackendHandler API of src/backend. Everything shown that came
 * from the request is HTML-escaped; every body read is bounded.
 */
import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { BackendHandler } from '../backend/dispatch.ts';
import type { BackendRequest } from '../backend/request.ts';
import type { BackendResponse } from '../backend/response.ts';
import { ClientRequestError } from '../errors.ts';
import { escapeHtml, fromBytes, PAGE_END, page, pageStart, table } from './html.ts';
import { MultipartParser, multipartBoundary, type PartInfo } from './multipart.ts';

export type DemoBackend = 'scgi' | 'fastcgi';

export interface DemoPageOptions {
  /** Pause between the lines of the stream pages. */
  readonly streamIntervalMs: number;
}

/** An urlencoded form or a text field larger than this is refused (413). */
const MAX_FORM_BYTES = 64 * 1024;
const STREAM_LINES = 10;

export const DEMO_PAGES = [
  ['/scgi/env', 'SCGI: the CGI environment the backend received'],
  ['/fcgi/env', 'FastCGI: the CGI environment the backend received'],
  ['/scgi/form', 'SCGI: a form whose POST is echoed'],
  ['/fcgi/form', 'FastCGI: a form whose POST is echoed'],
  ['/fcgi/upload', 'FastCGI: multipart upload (name, size and SHA-256 of each file)'],
  ['/scgi/stream', 'SCGI: a response flushed in steps'],
  ['/fcgi/stream', 'FastCGI: a response flushed in steps'],
] as const;

function send(res: BackendResponse, status: number, html: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(html),
  });
  res.end(html);
}

async function readBody(req: BackendRequest, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw new ClientRequestError('ERR_DEMO_TOO_LARGE', `form larger than ${max} bytes`, 413);
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

function index(res: BackendResponse, backend: DemoBackend): void {
  const links = DEMO_PAGES.map(
    ([href, text]) => `<li><a href="${href}">${escapeHtml(href)}</a>: ${escapeHtml(text)}</li>`,
  );
  send(
    res,
    200,
    page(
      'Portico demo',
      `<p>Portico is an HTTP gateway to SCGI and FastCGI applications. Behind it here run two
Node backends built on <code>portico/backend</code>: an SCGI server (pages under
<code>/scgi/</code>) and a FastCGI server (pages under <code>/fcgi/</code>), both on Unix
sockets. This index was served by the ${backend === 'scgi' ? 'SCGI' : 'FastCGI'} backend.</p>
<ul>
${links.join('\n')}
</ul>`,
    ),
  );
}

function env(req: BackendRequest, res: BackendResponse, backend: DemoBackend): void {
  const rows = Object.keys(req.env).map((name) => [name, fromBytes(req.env[name]!)]);
  send(
    res,
    200,
    page(
      `${backend === 'scgi' ? 'SCGI' : 'FastCGI'} environment`,
      `<p>${rows.length} variables, in the order the gateway sent them.</p>\n${table(['Name', 'Value'], rows)}`,
    ),
  );
}

const FORM = (action: string) => `<form method="post" action="${escapeHtml(action)}">
<p><label>Name <input type="text" name="name" value="Ada"></label></p>
<p><label>Message <textarea name="message" rows="3">Hello through Portico</textarea></label></p>
<p><label><input type="checkbox" name="subscribe" value="yes"> Subscribe</label></p>
<p><button type="submit">Send</button></p>
</form>`;

async function form(req: BackendRequest, res: BackendResponse, path: string): Promise<void> {
  if (req.method !== 'POST') {
    send(res, 200, page('Form', FORM(path)));
    return;
  }
  const body = await readBody(req, MAX_FORM_BYTES);
  const fields = [...new URLSearchParams(body.toString('utf8'))];
  send(
    res,
    200,
    page(
      'Form received',
      `<p>${fields.length} fields, ${body.length} bytes (${escapeHtml(req.headers['content-type'] ?? 'no type')}).</p>
${table(['Field', 'Value'], fields)}
<h2>Again</h2>
${FORM(path)}`,
    ),
  );
}

const UPLOAD_FORM = `<form method="post" action="/fcgi/upload" enctype="multipart/form-data">
<p><label>Description <input type="text" name="description" value="some files"></label></p>
<p><input type="file" name="files" multiple></p>
<p><button type="submit">Upload</button></p>
</form>`;

/** Collects one multipart body: files are hashed as they stream, text fields kept (bounded). */
class UploadSummary {
  readonly files: string[][] = [];
  readonly fields: string[][] = [];
  private part: PartInfo | undefined;
  private hash = createHash('sha256');
  private size = 0;
  private text: Buffer[] = [];

  onPart(part: PartInfo): void {
    this.part = part;
    this.hash = createHash('sha256');
    this.size = 0;
    this.text = [];
  }

  onData(data: Buffer): void {
    this.size += data.length;
    if (this.part?.filename !== undefined) {
      this.hash.update(data);
    } else {
      if (this.size > MAX_FORM_BYTES) {
        throw new ClientRequestError('ERR_DEMO_TOO_LARGE', `field larger than ${MAX_FORM_BYTES} bytes`, 413);
      }
      this.text.push(Buffer.from(data));
    }
  }

  onPartEnd(): void {
    const part = this.part!;
    if (part.filename === undefined) {
      this.fields.push([fromBytes(part.name), Buffer.concat(this.text).toString('utf8')]);
    } else if (part.filename !== '' || this.size > 0) {
      this.files.push([
        fromBytes(part.name),
        fromBytes(part.filename),
        part.contentType ?? '',
        String(this.size),
        this.hash.digest('hex'),
      ]);
    }
  }
}

async function upload(req: BackendRequest, res: BackendResponse): Promise<void> {
  if (req.method !== 'POST') {
    send(res, 200, page('Upload', UPLOAD_FORM));
    return;
  }
  const boundary = multipartBoundary(req.headers['content-type']);
  if (boundary === undefined) {
    send(res, 400, page('Upload', `<p>Expected a multipart/form-data body.</p>\n${UPLOAD_FORM}`));
    return;
  }
  const summary = new UploadSummary();
  const parser = new MultipartParser(boundary, summary);
  for await (const chunk of req) parser.push(chunk as Buffer);
  parser.end();
  send(
    res,
    200,
    page(
      'Upload received',
      `<h2>Files</h2>
${table(['Field', 'File name', 'Type', 'Size (bytes)', 'SHA-256'], summary.files)}
<h2>Fields</h2>
${table(['Field', 'Value'], summary.fields)}
<h2>Again</h2>
${UPLOAD_FORM}`,
    ),
  );
}

async function stream(req: BackendRequest, res: BackendResponse, options: DemoPageOptions): Promise<void> {
  res.writeHead(200, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    // nginx (and Portico) read this to pass the response on unbuffered.
    'X-Accel-Buffering': 'no',
  });
  // Browsers wait for about 1 KiB before rendering a page in progress.
  res.write(`${pageStart('Streamed response')}<!-- ${' '.repeat(1024)} -->\n`);
  for (let line = 1; line <= STREAM_LINES; line++) {
    res.write(`<p>line ${line} of ${STREAM_LINES}, written at ${new Date().toISOString()}</p>\n`);
    if (line < STREAM_LINES) {
      try {
        await delay(options.streamIntervalMs, undefined, { signal: req.signal });
      } catch {
        return; // The client went away: nobody reads the rest.
      }
    }
  }
  res.end(`<p>done.</p>\n${PAGE_END}`);
}

/** The pages of one demo backend. */
export function createDemoHandler(backend: DemoBackend, options: DemoPageOptions): BackendHandler {
  const prefix = backend === 'scgi' ? '/scgi' : '/fcgi';
  return async (req, res) => {
    const path = req.url.split('?')[0]!;
    if (path === '/' || path === prefix || path === `${prefix}/`) return index(res, backend);
    if (path === `${prefix}/env`) return env(req, res, backend);
    if (path === `${prefix}/form`) return form(req, res, path);
    if (path === `${prefix}/stream`) return stream(req, res, options);
    if (path === '/fcgi/upload' && backend === 'fastcgi') return upload(req, res);
    send(res, 404, page('Not found', `<p>No page at <code>${escapeHtml(fromBytes(path))}</code>.</p>`));
  };
}
