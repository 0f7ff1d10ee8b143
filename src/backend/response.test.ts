import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough, type Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { BackendResponse, type ResponseTransport, type WriteCallback } from './response.ts';

/** Records what the response hands to its transport. */
class RecordingTransport implements ResponseTransport {
  readonly sent: Buffer[] = [];
  ended = false;
  failed: boolean | undefined = undefined;
  sendBody(chunks: Buffer[], callback: WriteCallback): void {
    this.sent.push(...chunks);
    callback();
  }
  sendEnd(chunks: Buffer[], callback: WriteCallback): void {
    this.sent.push(...chunks);
    this.ended = true;
    callback();
  }
  handlerFailed(headersSent: boolean): void {
    this.failed = headersSent;
  }
  openStderr(): Writable {
    return new PassThrough();
  }
  get text(): string {
    return Buffer.concat(this.sent).toString('latin1');
  }
}

function response(): { res: BackendResponse; transport: RecordingTransport; errors: unknown[] } {
  const transport = new RecordingTransport();
  const errors: unknown[] = [];
  const res = new BackendResponse(transport, (e) => errors.push(e));
  return { res, transport, errors };
}

describe('BackendResponse', () => {
  it('writes Status, the headers in order (repeated for arrays), a blank line, then the body', async () => {
    const { res, transport } = response();
    res.setHeader('Content-Type', 'text/html');
    res.setHeader('Set-Cookie', ['a=1', 'b=2']);
    res.setHeader('X-Count', 3);
    res.end('<p>hi</p>');
    await once(res, 'finish');
    assert.equal(
      transport.text,
      'Status: 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Count: 3\r\n\r\n<p>hi</p>',
    );
    assert.equal(transport.ended, true);
  });

  it('has node:http header accessors, case-insensitive', () => {
    const { res } = response();
    res.setHeader('X-A', 'one');
    assert.equal(res.getHeader('x-a'), 'one');
    assert.equal(res.hasHeader('X-a'), true);
    assert.deepEqual(res.getHeaderNames(), ['x-a']);
    assert.deepEqual({ ...res.getHeaders() }, { 'x-a': 'one' });
    res.removeHeader('X-A');
    assert.equal(res.hasHeader('x-a'), false);
  });

  it('writeHead(status, reason, headers) fixes the head; later header changes throw', async () => {
    const { res, transport } = response();
    res.setHeader('X-Old', 'kept');
    res.writeHead(404, 'Nowhere', { 'X-New': 'yes' });
    assert.equal(res.headersSent, true);
    assert.throws(() => res.setHeader('X-Late', '1'), { code: 'ERR_BACKEND_HEADERS_SENT' });
    assert.throws(() => res.writeHead(200), { code: 'ERR_BACKEND_HEADERS_SENT' });
    res.end();
    await once(res, 'finish');
    assert.equal(transport.text, 'Status: 404 Nowhere\r\nX-Old: kept\r\nX-New: yes\r\n\r\n');
  });

  it('writeHead(status, headers) and the standard reason phrase', async () => {
    const { res, transport } = response();
    res.writeHead(201, { Location: '/x' });
    res.end();
    await once(res, 'finish');
    assert.equal(transport.text, 'Status: 201 Created\r\nLocation: /x\r\n\r\n');
  });

  it('refuses CR, LF, NUL and other controls in names, values and the reason (response splitting)', () => {
    const { res } = response();
    for (const value of ['a\r\nSet-Cookie: x=1', 'a\nb', 'a\0b', 'a\x7fb', '\u0100']) {
      assert.throws(() => res.setHeader('X-Bad', value), { code: 'ERR_BACKEND_HEADER_VALUE' });
      assert.throws(() => res.setHeader('X-Bad', ['ok', value]), { code: 'ERR_BACKEND_HEADER_VALUE' });
    }
    for (const name of ['X Bad', 'X:Bad', 'X\r\nBad', '', 'Ü']) {
      assert.throws(() => res.setHeader(name, 'v'), { code: 'ERR_BACKEND_HEADER_NAME' });
    }
    assert.throws(() => res.writeHead(200, 'OK\r\nX-Injected: 1'), { code: 'ERR_BACKEND_STATUS_MESSAGE' });
    assert.throws(() => res.setHeader('Status', '404'), { code: 'ERR_BACKEND_STATUS_HEADER' });
    res.setHeader('X-Tab', 'a\tb');
  });

  it('refuses a status outside 100..999 and 1xx other than 101 at the first write', () => {
    for (const status of [99, 1000, 100, 103, 200.5]) {
      const { res } = response();
      res.statusCode = status;
      assert.throws(() => res.write('x'), { code: 'ERR_BACKEND_STATUS' });
      assert.equal(res.headersSent, false);
    }
  });

  it('flushHeaders sends the head alone, once', () => {
    const { res, transport } = response();
    res.flushHeaders();
    res.flushHeaders();
    assert.equal(transport.text, 'Status: 200 OK\r\n\r\n');
  });

  it('reports a write after end to onError instead of crashing', async () => {
    const { res, errors } = response();
    res.end();
    res.write('late');
    await new Promise((r) => setImmediate(r));
    assert.equal((errors[0] as { code: string }).code, 'ERR_STREAM_WRITE_AFTER_END');
  });
});
