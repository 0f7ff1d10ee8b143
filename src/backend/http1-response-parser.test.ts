import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../errors.ts';
import { Prng } from '../util/prng.ts';
import { type HeaderPair, Http1ResponseParser } from './http1-response-parser.ts';

interface Parsed {
  heads: { status: number; reason: string; headers: HeaderPair[] }[];
  body: Buffer[];
  complete: number;
}

function parser(noBody = false, maxHead?: number): { p: Http1ResponseParser; out: Parsed } {
  const out: Parsed = { heads: [], body: [], complete: 0 };
  const p = new Http1ResponseParser(
    {
      onHead: (status, reason, headers) => out.heads.push({ status, reason, headers }),
      onBody: (data) => out.body.push(Buffer.from(data)),
      onComplete: () => out.complete++,
    },
    noBody,
    maxHead,
  );
  return { p, out };
}

function chunked(body: Buffer, prng: Prng): string {
  let out = '';
  for (let at = 0; at < body.length; ) {
    const n = Math.min(prng.int(1, 5000), body.length - at);
    out += `${n.toString(16)}${prng.int(0, 1) ? ';ext=1' : ''}\r\n${body.toString('latin1', at, at + n)}\r\n`;
    at += n;
  }
  return `${out}0\r\n${prng.int(0, 1) ? 'X-Trailer: t\r\n' : ''}\r\n`;
}

describe('Http1ResponseParser', () => {
  it('parses head and body for every framing, whatever the chunking (property)', () => {
    const prng = new Prng();
    for (let round = 0; round < 200; round++) {
      const body = prng.bytes(prng.int(0, 20_000));
      const framing = prng.int(0, 2);
      let head = 'HTTP/1.1 200 OK\r\nX-A: 1\r\nSet-Cookie: a\r\nSet-Cookie: b\r\n';
      let payload: string;
      if (framing === 0) {
        head += `Content-Length: ${body.length}\r\n\r\n`;
        payload = body.toString('latin1');
      } else if (framing === 1) {
        head += 'Transfer-Encoding: chunked\r\n\r\n';
        payload = chunked(body, prng);
      } else {
        head += 'Connection: close\r\n\r\n';
        payload = body.toString('latin1');
      }
      const interim = prng.int(0, 1) ? 'HTTP/1.1 100 Continue\r\n\r\n' : '';
      const wire = Buffer.from(interim + head + payload, 'latin1');
      const { p, out } = parser();
      for (const piece of prng.chunks(wire, 3000)) p.push(piece);
      p.end();
      assert.equal(out.heads.length, 1, `seed ${prng.seed}`);
      assert.equal(out.heads[0]!.status, 200);
      assert.deepEqual(out.heads[0]!.headers.slice(0, 3), [
        ['X-A', '1'],
        ['Set-Cookie', 'a'],
        ['Set-Cookie', 'b'],
      ]);
      assert.deepEqual(Buffer.concat(out.body), body, `seed ${prng.seed} framing ${framing}`);
      assert.equal(out.complete, 1);
    }
  });

  it('has no body for HEAD, 204 and 304', () => {
    for (const [status, noBody] of [
      [200, true],
      [204, false],
      [304, false],
    ] as const) {
      const { p, out } = parser(noBody);
      p.push(Buffer.from(`HTTP/1.1 ${status} X\r\nContent-Length: 5\r\n\r\n`));
      assert.equal(out.complete, 1);
      assert.equal(out.body.length, 0);
    }
  });

  it('refuses a cut response, a bad chunk, 101, and a head over the limit', () => {
    const cut = parser();
    cut.p.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc'));
    assert.throws(() => cut.p.end(), ProtocolError);
    const bad = parser();
    assert.throws(
      () => bad.p.push(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')),
      ProtocolError,
    );
    const upgrade = parser();
    assert.throws(() => upgrade.p.push(Buffer.from('HTTP/1.1 101 Switching\r\n\r\n')), ProtocolError);
    const big = parser(false, 100);
    assert.throws(
      () => big.p.push(Buffer.from(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(200)}\r\n\r\n`)),
      ProtocolError,
    );
  });

  it('never throws anything but ProtocolError on random input, and stays bounded', () => {
    const prng = new Prng();
    const alphabet = Buffer.from(
      'HTTP/1.1 200 OK\r\n:0123456789abcdefContent-Length Transfer-Encoding chunked;\r\n',
    );
    for (let round = 0; round < 500; round++) {
      const { p } = parser(false, 1024);
      const input = Buffer.alloc(prng.int(0, 3000));
      for (let i = 0; i < input.length; i++) {
        input[i] = prng.int(0, 3) === 0 ? prng.int(0, 255) : alphabet[prng.int(0, alphabet.length - 1)]!;
      }
      if (prng.int(0, 1)) Buffer.from('HTTP/1.1 200 OK\r\n').copy(input);
      try {
        for (const piece of prng.chunks(input, 200)) p.push(piece);
        p.end();
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `seed ${prng.seed}: ${String(error)}`);
      }
    }
  });
});
