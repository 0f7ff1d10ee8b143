import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CgiHeader, CgiResponseHead } from '../cgi/response-head.ts';
import { cacheValidity } from './cache-validity.ts';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);

function head(headers: CgiHeader[]): CgiResponseHead {
  return {
    status: 200,
    reason: undefined,
    headers,
    contentLength: undefined,
    location: undefined,
    locationKind: 'none',
    rest: Buffer.alloc(0),
  };
}

const none = new Set<string>();
const ignoring = (...names: string[]) => new Set(names.map((n) => n.toLowerCase()));

describe('cacheValidity (nginx rules for a stored response)', () => {
  it('X-Accel-Expires: N seconds, @T absolute, 0 never; it beats Cache-Control no-cache', () => {
    assert.deepEqual(cacheValidity(head([['X-Accel-Expires', '60']]), none, NOW), {
      kind: 'until',
      at: NOW + 60_000,
    });
    assert.deepEqual(cacheValidity(head([['X-Accel-Expires', '@1800000000']]), none, NOW), {
      kind: 'until',
      at: 1_800_000_000_000,
    });
    assert.equal(cacheValidity(head([['X-Accel-Expires', '0']]), none, NOW).kind, 'never');
    assert.equal(
      cacheValidity(
        head([
          ['Cache-Control', 'no-cache'],
          ['X-Accel-Expires', '60'],
        ]),
        none,
        NOW,
      ).kind,
      'until',
    );
  });

  it('ignore_headers X-Accel-Expires: Cache-Control decides', () => {
    const h = head([
      ['X-Accel-Expires', '60'],
      ['Cache-Control', 'max-age=5'],
    ]);
    assert.deepEqual(cacheValidity(h, ignoring('X-Accel-Expires'), NOW), { kind: 'until', at: NOW + 5000 });
  });

  it('Cache-Control: private / no-store never, s-maxage over max-age, 0 never; ignored: Expires decides', () => {
    assert.equal(cacheValidity(head([['Cache-Control', 'private']]), none, NOW).kind, 'never');
    assert.deepEqual(cacheValidity(head([['Cache-Control', 'max-age=10, s-maxage=20']]), none, NOW), {
      kind: 'until',
      at: NOW + 20_000,
    });
    assert.equal(cacheValidity(head([['Cache-Control', 'max-age=0']]), none, NOW).kind, 'never');
    const h = head([
      ['Cache-Control', 'no-store'],
      ['Expires', 'Sun, 22 Nov 2026 13:00:00 GMT'],
    ]);
    assert.deepEqual(cacheValidity(h, ignoring('Cache-Control'), NOW), {
      kind: 'until',
      at: NOW + 3_600_000,
    });
  });

  it('Expires: a future date, a past one never; ignored: unset', () => {
    assert.equal(
      cacheValidity(head([['Expires', 'Sun, 22 Nov 2026 11:00:00 GMT']]), none, NOW).kind,
      'never',
    );
    assert.equal(
      cacheValidity(head([['Expires', 'Sun, 22 Nov 2026 13:00:00 GMT']]), ignoring('Expires'), NOW).kind,
      'unset',
    );
  });

  it('Set-Cookie and Vary: * make it never; ignored, they do not', () => {
    assert.equal(cacheValidity(head([['Set-Cookie', 'a=1']]), none, NOW).kind, 'never');
    assert.equal(cacheValidity(head([['Set-Cookie', 'a=1']]), ignoring('Set-Cookie'), NOW).kind, 'unset');
    assert.equal(cacheValidity(head([['Vary', 'Accept, *']]), none, NOW).kind, 'never');
    assert.equal(cacheValidity(head([['Vary', '*']]), ignoring('Vary'), NOW).kind, 'unset');
    assert.equal(cacheValidity(head([['Vary', 'Accept-Encoding']]), none, NOW).kind, 'unset');
  });
});
