import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError, ProtocolError } from '../errors.ts';
import { Prng } from '../util/prng.ts';
import {
  CGI_HEAD_ERROR,
  type CgiResponseHead,
  CgiResponseHeadParser,
  type CgiResponseHeadOptions,
  HOP_BY_HOP_RESPONSE_HEADERS,
  isHopByHopResponseHeader,
} from './response-head.ts';

const E = CGI_HEAD_ERROR;
const SCGI: CgiResponseHeadOptions = { allowStatusLine: true };
const FCGI: CgiResponseHeadOptions = { allowStatusLine: false };

type Outcome =
  | { head: Omit<CgiResponseHead, 'rest'> & { rest: string } }
  | { error: string }
  | { incomplete: true };

const bytes = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s, 'latin1') : s);

/** Feeds the chunks in order; a plain, comparable description of what came out. */
function run(chunks: readonly Buffer[], options: CgiResponseHeadOptions = FCGI): Outcome {
  const parser = new CgiResponseHeadParser(options);
  try {
    for (let i = 0; i < chunks.length; i++) {
      const head = parser.push(chunks[i]!);
      if (head !== undefined) {
        const tail = Buffer.concat([head.rest, ...chunks.slice(i + 1)]);
        return { head: { ...head, rest: tail.toString('latin1') } };
      }
    }
    return { incomplete: true };
  } catch (error) {
    if (error instanceof ProtocolError) return { error: error.code };
    throw error;
  }
}

function parse(input: string | Buffer, options: CgiResponseHeadOptions = FCGI): CgiResponseHead {
  const out = run([bytes(input)], options);
  assert.ok('head' in out, `expected a head, got ${JSON.stringify(out)}`);
  return { ...out.head, rest: bytes(out.head.rest) };
}

function fails(input: string | Buffer, code: string, options: CgiResponseHeadOptions = FCGI): void {
  assert.deepEqual(run([bytes(input)], options), { error: code }, JSON.stringify(String(input)));
}

/** Every two-piece split and byte-by-byte feeding give the outcome of one whole push. */
function assertSplitInvariant(input: string | Buffer, options: CgiResponseHeadOptions = FCGI): Outcome {
  const data = bytes(input);
  const whole = run([data], options);
  for (let k = 0; k <= data.length; k++) {
    assert.deepEqual(run([data.subarray(0, k), data.subarray(k)], options), whole, `split at ${k}`);
  }
  const single = Array.from({ length: data.length }, (_, i) => data.subarray(i, i + 1));
  assert.deepEqual(run(single, options), whole, 'byte by byte');
  return whole;
}

describe('CgiResponseHeadParser: lines and fields', () => {
  it('parses CRLF and bare LF heads alike, keeping case and order', () => {
    const crlf = parse('Content-Type: text/html\r\nX-A: 1\r\nx-b:2\r\n\r\nbody');
    const lf = parse('Content-Type: text/html\nX-A: 1\nx-b:2\n\nbody');
    assert.deepEqual(crlf, lf);
    assert.equal(crlf.status, 200);
    assert.equal(crlf.reason, undefined);
    assert.deepEqual(crlf.headers, [
      ['Content-Type', 'text/html'],
      ['X-A', '1'],
      ['x-b', '2'],
    ]);
    assert.equal(crlf.rest.toString(), 'body');
  });

  it('trims SP and HTAB around values, keeps inner ones, and keeps empty values', () => {
    const head = parse('A: \t x \t y \t\r\nB:\r\nC:   \r\n\r\n');
    assert.deepEqual(head.headers, [
      ['A', 'x \t y'],
      ['B', ''],
      ['C', ''],
    ]);
  });

  it('returns obs-text bytes as latin1 characters', () => {
    assert.deepEqual(parse(Buffer.from([0x41, 0x3a, 0x20, 0xe9, 0xff, 0x0a, 0x0a])).headers, [
      ['A', '\u00e9\u00ff'],
    ]);
  });

  it('accepts an empty head and tolerates CR runs before LF (nginx)', () => {
    assert.deepEqual(parse('\r\n').headers, []);
    assert.deepEqual(parse('\n').headers, []);
    assert.deepEqual(parse('A: b\r\r\n\r\r\nx').headers, [['A', 'b']]);
  });

  it('rejects a bare CR anywhere else', () => {
    fails('A: b\rc\r\n\r\n', E.bareCr);
    fails('A\r: b\r\n\r\n', E.bareCr);
    fails('A: b\r \r\n\r\n', E.bareCr);
    fails('\rA: b\r\n\r\n', E.bareCr);
  });

  it('rejects NUL in a name, a value or an ignored HTTP/ line', () => {
    fails('A\0: b\r\n\r\n', E.nul);
    fails('A: b\0\r\n\r\n', E.nul);
    fails('HTTP/1.1 200\0 OK\r\n\r\n', E.nul);
  });

  it('rejects empty, spaced and non-token names; accepts every tchar', () => {
    fails(': b\r\n\r\n', E.name);
    fails('A b: c\r\n\r\n', E.name);
    fails('A : b\r\n\r\n', E.name);
    fails('A\t: b\r\n\r\n', E.name);
    fails('A\x7f: b\r\n\r\n', E.name);
    fails('(A): b\r\n\r\n', E.name);
    fails(Buffer.from([0xc3, 0xa9, 0x3a, 0x20, 0x62, 0x0a, 0x0a]), E.name);
    assert.deepEqual(parse("!#$%&'*+-.^_`|~09azAZ: v\n\n").headers, [["!#$%&'*+-.^_`|~09azAZ", 'v']]);
  });

  it('rejects control bytes other than HTAB in values', () => {
    for (const b of [0x01, 0x08, 0x0b, 0x0c, 0x1b, 0x1f, 0x7f]) {
      fails(Buffer.concat([bytes('A: x'), Buffer.from([b]), bytes('y\n\n')]), E.value);
    }
  });

  it('rejects obs-fold: RFC 3875 6.3 has no continuation lines', () => {
    fails('A: b\r\n c\r\n\r\n', E.obsFold);
    fails('A: b\n\tc\n\n', E.obsFold);
    fails(' A: b\n\n', E.obsFold);
  });

  it('rejects a line without a colon (nginx would pass `Name: `)', () => {
    fails('Content-Type: text/html\r\nOops\r\n\r\n', E.noColon);
  });

  it('ignores HTTP/ lines among the headers (FastCGI, like nginx)', () => {
    const head = parse('HTTP/1.1 404 Not Found\r\nContent-Type: a\r\nHTTP/1.0 500\r\n\r\n');
    assert.equal(head.status, 200);
    assert.deepEqual(head.headers, [['Content-Type', 'a']]);
  });
});

describe('CgiResponseHeadParser: status (RFC 3875 6.2, 6.3.3)', () => {
  it('takes Status with and without a reason phrase, and removes it from headers', () => {
    let head = parse('Status: 404\r\nContent-Type: a\r\n\r\n');
    assert.equal(head.status, 404);
    assert.equal(head.reason, undefined);
    assert.deepEqual(head.headers, [['Content-Type', 'a']]);
    head = parse('Status: 404 \r\n\r\n');
    assert.equal(head.reason, undefined);
    head = parse('Status: 299 All Fine Here\r\n\r\n');
    assert.equal(head.status, 299);
    assert.equal(head.reason, 'All Fine Here');
    head = parse('sTaTuS:\t503\tBack   soon \r\n\r\n');
    assert.equal(head.status, 503);
    assert.equal(head.reason, 'Back   soon');
    assert.equal(parse('Status: 999 Max\n\n').status, 999);
  });

  it('rejects a Status that is not 3 digits in 100..999 then end or blank', () => {
    for (const v of ['abc', '40', '4O4', '099', '000', '4040', '404x', '404-Gone', '-404', '+404']) {
      fails(`Status: ${v}\r\n\r\n`, E.status);
    }
  });

  it('rejects 1xx other than 101: a CGI response has exactly one head', () => {
    fails('Status: 100 Continue\r\n\r\n', E.informational);
    fails('Status: 103\r\n\r\n', E.informational);
    fails('HTTP/1.1 102 Processing\r\n\r\n', E.informational, SCGI);
    assert.equal(parse('Status: 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n').status, 101);
  });

  it('treats an empty Status or Location as not sent (RFC 3875 6.3)', () => {
    let head = parse('Status:\r\nStatus: 201\r\nLocation: \r\n\r\n');
    assert.equal(head.status, 201);
    assert.equal(head.locationKind, 'none');
    assert.deepEqual(head.headers, []);
    head = parse('Status:  \r\n\r\n');
    assert.equal(head.status, 200);
  });

  it('makes an absolute Location a 302 client redirect', () => {
    const head = parse('Location: https://example.com/a?b#c\r\n\r\n');
    assert.equal(head.status, 302);
    assert.equal(head.locationKind, 'client');
    assert.equal(head.location, 'https://example.com/a?b#c');
    assert.deepEqual(head.headers, [['Location', 'https://example.com/a?b#c']]);
  });

  it('leaves a local Location at 200 with kind local; //host and /\\host are client', () => {
    const head = parse('Location: /next?x=1\r\n\r\n');
    assert.equal(head.status, 200);
    assert.equal(head.locationKind, 'local');
    assert.equal(head.location, '/next?x=1');
    assert.equal(parse('Location: /\n\n').locationKind, 'local');
    assert.equal(parse('Location: //evil.example/\n\n').status, 302);
    assert.equal(parse('Location: //evil.example/\n\n').locationKind, 'client');
    assert.equal(parse('Location: /\\evil.example/\n\n').locationKind, 'client');
    assert.equal(parse('Location: page.html\n\n').locationKind, 'client');
  });

  it('lets Status win over Location', () => {
    const head = parse('Location: http://x/\r\nStatus: 301 Moved\r\n\r\n');
    assert.equal(head.status, 301);
    assert.equal(head.reason, 'Moved');
    assert.equal(head.locationKind, 'client');
    assert.equal(parse('Status: 303\r\nLocation: /local\r\n\r\n').status, 303);
  });
});

describe('CgiResponseHeadParser: repeated fields and framing', () => {
  it('keeps the first of single-valued fields, case-insensitively, and repeats the rest', () => {
    const head = parse(
      'Status: 201\r\nStatus: 500\r\nContent-Type: a\r\ncontent-type: b\r\nSet-Cookie: 1\r\n' +
        'Location: /one\r\nLOCATION: http://two/\r\nSet-Cookie: 2\r\nDate: d1\r\nDate: d2\r\n' +
        'ETag: "1"\r\nEtag: "2"\r\nX-Accel-Redirect: /a\r\nX-Accel-Redirect: /b\r\nVary: a\r\nVary: b\r\n\r\n',
    );
    assert.equal(head.status, 201);
    assert.equal(head.location, '/one');
    assert.deepEqual(head.headers, [
      ['Content-Type', 'a'],
      ['Set-Cookie', '1'],
      ['Location', '/one'],
      ['Set-Cookie', '2'],
      ['Date', 'd1'],
      ['ETag', '"1"'],
      ['X-Accel-Redirect', '/a'],
      ['Vary', 'a'],
      ['Vary', 'b'],
    ]);
  });

  it('does not validate a dropped duplicate Status (nginx ignores it)', () => {
    assert.equal(parse('Status: 204\r\nStatus: junk\r\n\r\n').status, 204);
  });

  it('exposes Content-Length as a number and removes it from headers', () => {
    const head = parse('Content-Length: 42\r\nContent-Type: a\r\n\r\n');
    assert.equal(head.contentLength, 42);
    assert.deepEqual(head.headers, [['Content-Type', 'a']]);
    assert.equal(parse('Content-Length: 0\n\n').contentLength, 0);
    assert.equal(parse('Content-Length: 007\n\n').contentLength, 7);
    assert.equal(parse('content-length:  5 \ncontent-length: 5\n\n').contentLength, 5);
    assert.equal(parse('Content-Length: 9007199254740991\n\n').contentLength, Number.MAX_SAFE_INTEGER);
    assert.equal(parse('A: b\n\n').contentLength, undefined);
  });

  it('rejects an invalid or conflicting Content-Length', () => {
    for (const v of [
      '',
      'abc',
      '-1',
      '+1',
      '1 2',
      '1,1',
      '0x10',
      '1.0',
      '9007199254740992',
      '99999999999999999999',
    ]) {
      fails(`Content-Length: ${v}\r\n\r\n`, E.contentLength);
    }
    fails('Content-Length: 1\r\nContent-Length: 2\r\n\r\n', E.contentLengthConflict);
  });

  it('rejects any Transfer-Encoding: the transport frames a CGI body (CVE-2024-24795)', () => {
    fails('Transfer-Encoding: chunked\r\n\r\n', E.transferEncoding);
    fails('transfer-encoding: identity\r\n\r\n', E.transferEncoding);
    fails('Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', E.transferEncoding);
  });
});

describe('CgiResponseHeadParser: SCGI status line (CVE-2026-42946)', () => {
  it('takes a status line with or without a reason', () => {
    let head = parse('HTTP/1.1 404 Not Found\r\nContent-Type: a\r\n\r\n', SCGI);
    assert.equal(head.status, 404);
    assert.equal(head.reason, 'Not Found');
    assert.deepEqual(head.headers, [['Content-Type', 'a']]);
    head = parse('HTTP/1.0 204\r\n\r\n', SCGI);
    assert.equal(head.status, 204);
    assert.equal(head.reason, undefined);
    assert.equal(parse('HTTP/1.1 200 \n\n', SCGI).reason, undefined);
    assert.equal(parse('HTTP/1.1 599 Custom\tPhrase\n\n', SCGI).reason, 'Custom\tPhrase');
  });

  it('lets the status line win over Status and Location, dropping Status', () => {
    const head = parse('HTTP/1.1 202 Accepted\r\nStatus: 500\r\nLocation: http://x/\r\n\r\n', SCGI);
    assert.equal(head.status, 202);
    assert.deepEqual(head.headers, [['Location', 'http://x/']]);
    assert.equal(head.locationKind, 'client');
  });

  it('rejects a malformed first line starting HTTP/ (nginx would make it 200)', () => {
    for (const line of [
      'HTTP/1.1 5000 X',
      'HTTP/1.1  200',
      'HTTP/11 200 OK',
      'HTTP/1.1 abc',
      'HTTP/1.1 099',
      'HTTP/',
      'HTTP/1.1 200x',
    ]) {
      fails(`${line}\r\nA: b\r\n\r\n`, E.statusLine, SCGI);
    }
  });

  it('falls back to headers from the first byte when the first line is not a status line', () => {
    let head = parse('HTTP-Thing: x\r\nStatus: 201 Made\r\n\r\n', SCGI);
    assert.equal(head.status, 201);
    assert.deepEqual(head.headers, [['HTTP-Thing', 'x']]);
    head = parse('HTTPS: on\n\n', SCGI);
    assert.deepEqual(head.headers, [['HTTPS', 'on']]);
    head = parse('H: 1\r\nHTTP/1.1 500 Ignored\r\n\r\n', SCGI);
    assert.equal(head.status, 200);
  });

  it('ignores a status line when not allowed (FastCGI)', () => {
    assert.equal(parse('HTTP/1.1 404 Not Found\r\n\r\n', FCGI).status, 200);
  });

  it('gives the same answer for every split of status-line and fallback heads', () => {
    const inputs = [
      'HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.0 200\n\nrest',
      'HTTP-X: 1\r\nStatus: 418 Teapot\r\n\r\n',
      'HTTP\r\n\r\n',
      'HTT: y\n\n',
      'Status: 302\r\nLocation: /a\r\n\r\nHTTP/1.1 200 OK\r\n',
      'HTTP/1.1 2000 Oops\r\n\r\n',
      'HTTP/1.1 200 OK\r\nA: \x01\r\n\r\n',
    ];
    for (const input of inputs) {
      assertSplitInvariant(input, SCGI);
      assertSplitInvariant(input, FCGI);
    }
  });
});

describe('CgiResponseHeadParser: chunking, rest, limits', () => {
  const heads = [
    'Status: 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n<html>\r\n\r\n</html>',
    'Content-Type: text/plain\nContent-Length: 5\n\nhello',
    'Location: /elsewhere\r\n\r\n',
    'X: y\r\r\nZ: \t w \r\n\r\nbody\nmore',
    '\r\nonly body',
  ];

  it('gives the same head and rest for every split and byte by byte', () => {
    for (const input of heads) {
      const out = assertSplitInvariant(input);
      assert.ok('head' in out);
    }
  });

  it('returns rest as a view of the chunk that ended the head', () => {
    const parser = new CgiResponseHeadParser();
    assert.equal(parser.push(bytes('Content-Type: a\r\n\r')), undefined);
    const last = bytes('\nbody bytes');
    const head = parser.push(last)!;
    assert.equal(head.rest.toString(), 'body bytes');
    assert.equal(head.rest.buffer, last.buffer);
    assert.equal(head.rest.byteOffset, last.byteOffset + 1);
    const whole = bytes('A: b\n\n');
    assert.equal(new CgiResponseHeadParser().push(whole)!.rest.length, 0);
  });

  it('waits without answering while the head is incomplete', () => {
    assert.deepEqual(run([bytes('Content-Type: a\r\nX: y')]), { incomplete: true });
    assert.deepEqual(run([bytes(''), bytes('A: b\r\n'), bytes('')]), { incomplete: true });
  });

  it('accepts a head of exactly maxHeaderBytes and refuses one byte more, for every split', () => {
    for (const eol of ['\r\n', '\n']) {
      const make = (size: number): string => {
        const fixed = `Content-Type: x${eol}X: ${eol}${eol}`.length;
        return `Content-Type: x${eol}X: ${'v'.repeat(size - fixed)}${eol}${eol}`;
      };
      const options = { maxHeaderBytes: 64 };
      const exact = make(64);
      assert.equal(exact.length, 64);
      const ok = assertSplitInvariant(`${exact}body that does not count`, options);
      assert.ok('head' in ok && ok.head.rest === 'body that does not count');
      assert.deepEqual(assertSplitInvariant(make(65), options), { error: E.tooBig });
      assert.deepEqual(assertSplitInvariant(make(65).slice(0, 64), options), { error: E.tooBig });
      assert.deepEqual(assertSplitInvariant(make(65).slice(0, 63), options), { incomplete: true });
    }
  });

  it('says "upstream sent too big header" with the limit, and never grows past it', () => {
    const parser = new CgiResponseHeadParser({ maxHeaderBytes: 4096 });
    parser.push(bytes('A: '));
    assert.throws(
      () => parser.push(Buffer.alloc(1 << 20, 0x61)),
      (e: unknown) =>
        e instanceof ProtocolError && /upstream sent too big header/.test(e.message) && e.status === 502,
    );
  });

  it('keeps error messages log-safe: control bytes escaped, long lines cut', () => {
    try {
      new CgiResponseHeadParser().push(bytes(`A: x\x01${'y'.repeat(200)}\r\n\r\n`));
      assert.fail('should throw');
    } catch (e) {
      assert.ok(e instanceof ProtocolError);
      assert.equal(e.code, E.value);
      assert.equal(e.failure, 'invalid_header');
      assert.match(e.message, /"A: x\\x01y+"\.\.\.$/);
    }
  });

  it('refuses push() after the head or an error, and reset() makes it reusable', () => {
    const parser = new CgiResponseHeadParser(SCGI);
    parser.push(bytes('A: b\n\n'));
    assert.throws(
      () => parser.push(bytes('x')),
      (e: unknown) => e instanceof GatewayError && e.code === 'ERR_CGI_HEAD_DONE',
    );
    parser.reset();
    assert.throws(() => parser.push(bytes('A\0: b\n\n')), ProtocolError);
    assert.throws(
      () => parser.push(bytes('A: b\n\n')),
      (e: unknown) => e instanceof GatewayError && !(e instanceof ProtocolError),
    );
    parser.reset();
    parser.push(bytes('HTTP/1.1 201 Made\r\nX: '));
    parser.reset();
    const head = parser.push(bytes('HTTP/1.1 202\r\nY: z\r\n\r\n'))!;
    assert.equal(head.status, 202);
    assert.deepEqual(head.headers, [['Y', 'z']]);
  });

  it('validates its options', () => {
    for (const maxHeaderBytes of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new CgiResponseHeadParser({ maxHeaderBytes }), GatewayError);
    }
  });
});

describe('CgiResponseHeadParser: property tests', () => {
  const alphabet = bytes('\r\n\r\n::: \tABCSTatus-Lcontent-lengthHTTP/1.1 200 09\0\x01\x7f\xff/');

  function randomInput(prng: Prng): Buffer {
    const n = prng.int(0, 120);
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++)
      out[i] = prng.next() < 0.8 ? alphabet[prng.int(0, alphabet.length - 1)]! : prng.int(0, 255);
    return out;
  }

  it('random bytes in random chunks: a head, incomplete, or ProtocolError; the same for every chunking', () => {
    const prng = new Prng(0x5eed1);
    for (let i = 0; i < 4000; i++) {
      const data = randomInput(prng);
      const options = { allowStatusLine: prng.next() < 0.5, maxHeaderBytes: prng.int(1, 150) };
      const whole = run([data], options); // throws anything but ProtocolError
      assert.deepEqual(run(prng.chunks(data, 16), options), whole, `seed ${prng.seed} case ${i}`);
    }
  });

  it('mutated valid heads: never another exception, same outcome for every chunking', () => {
    const prng = new Prng(0xcafe);
    const seeds = [
      'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 3\r\nSet-Cookie: a\r\n\r\nabc',
      'Status: 404 Not Found\nLocation: /x\n\nbody',
    ].map(bytes);
    for (let i = 0; i < 4000; i++) {
      const data = Buffer.from(seeds[i % seeds.length]!);
      for (let m = prng.int(1, 3); m > 0; m--)
        data[prng.int(0, data.length - 1)] = alphabet[prng.int(0, alphabet.length - 1)]!;
      const options = { allowStatusLine: i % 3 !== 0 };
      assert.deepEqual(run(prng.chunks(data, 8), options), run([data], options), `case ${i}`);
    }
  });

  it('generated heads (mostly valid): outcome independent of chunking, results well-formed', () => {
    const prng = new Prng(0xbeef);
    const pick = <T>(items: readonly T[]): T => items[prng.int(0, items.length - 1)]!;
    const names = [
      'Status',
      'Location',
      'Content-Length',
      'content-type',
      'Set-Cookie',
      'X-A',
      'HTTP/1.1',
      'Date',
    ];
    const values = [
      '200',
      '404 Not Found',
      '101',
      '103 Early Hints',
      '/local',
      'http://x/',
      '12',
      '12',
      'text/html',
      '',
      ' a b ',
      '1xx',
    ];
    const ends = ['\r\n', '\n', '\r\r\n'];
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      let text =
        prng.next() < 0.3
          ? `HTTP/1.${prng.int(0, 1)} ${pick(['200', '204 No Content', '302 Found', '099'])}${pick(ends)}`
          : '';
      for (let n = prng.int(0, 6); n > 0; n--)
        text += `${pick(names)}:${pick([' ', '', '\t'])}${pick(values)}${pick(ends)}`;
      text += `${pick(ends)}body`;
      const data = bytes(text);
      if (prng.next() < 0.2) data[prng.int(0, data.length - 1)] = pick([0, 13, 32, 58, 1]);
      const options = { allowStatusLine: prng.next() < 0.5, maxHeaderBytes: prng.int(40, 200) };
      const whole = run([data], options);
      assert.deepEqual(run(prng.chunks(data, 8), options), whole, `case ${i}`);
      seen.add('head' in whole ? 'head' : 'error' in whole ? whole.error : 'incomplete');
      if ('head' in whole) {
        const { status, headers, contentLength } = whole.head;
        assert.ok(Number.isInteger(status) && status >= 101 && status <= 999);
        assert.ok(contentLength === undefined || Number.isSafeInteger(contentLength));
        for (const [name] of headers) assert.ok(!/^(status|content-length|transfer-encoding)$/i.test(name));
      }
    }
    // The generator reaches the interesting outcomes.
    for (const outcome of [
      'head',
      E.tooBig,
      E.status,
      E.statusLine,
      E.informational,
      E.contentLength,
      E.nul,
    ]) {
      assert.ok(seen.has(outcome), outcome);
    }
  });
});

describe('hop-by-hop response headers', () => {
  it('lists the names that never reach the client, lower-case', () => {
    for (const name of [
      'Transfer-Encoding',
      'CONNECTION',
      'keep-alive',
      'Proxy-Connection',
      'Upgrade',
      'TE',
      'Trailer',
    ]) {
      assert.ok(isHopByHopResponseHeader(name), name);
    }
    assert.equal(isHopByHopResponseHeader('Content-Type'), false);
    for (const name of HOP_BY_HOP_RESPONSE_HEADERS) assert.equal(name, name.toLowerCase());
  });
});
