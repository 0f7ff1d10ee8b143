import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../errors.ts';
import { HostResolver, type LookupAll } from './host-resolver.ts';

/** A lookup the test scripts: each call takes the next answer (an array, or an Error to throw). */
function scripted(answers: Array<readonly string[] | Error>): LookupAll & { calls: number } {
  const fn = (async () => {
    fn.calls++;
    const next = answers.length > 1 ? answers.shift() : answers[0];
    if (next instanceof Error) throw next;
    return next ?? [];
  }) as unknown as LookupAll & { calls: number };
  fn.calls = 0;
  return fn;
}

describe('HostResolver', () => {
  it('resolves on first use, then rotates through every address', async () => {
    const lookup = scripted([['10.0.0.1', '10.0.0.2', '10.0.0.3']]);
    const r = new HostResolver('app.test', { interval: 0, lookup });
    assert.deepEqual(await r.order(), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    assert.deepEqual(await r.order(), ['10.0.0.2', '10.0.0.3', '10.0.0.1']);
    assert.deepEqual(await r.order(), ['10.0.0.3', '10.0.0.1', '10.0.0.2']);
    assert.deepEqual(await r.order(), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    assert.equal(lookup.calls, 1);
  });

  it('a failed lookup keeps the last good set and is reported; a change is reported', async () => {
    const said: string[] = [];
    const lookup = scripted([
      ['10.0.0.1'],
      Object.assign(new Error('x'), { code: 'ENOTFOUND' }),
      ['10.0.0.9'],
    ]);
    const r = new HostResolver('app.test', {
      interval: 0,
      lookup,
      onChange: (m, level) => said.push(`${level}: ${m}`),
    });
    await r.refresh();
    await r.refresh();
    assert.deepEqual(r.current, ['10.0.0.1']);
    assert.match(said[0] ?? '', /^warn: could not resolve "app.test" \(ENOTFOUND\), keeping 10.0.0.1$/);
    await r.refresh();
    assert.deepEqual(r.current, ['10.0.0.9']);
    assert.match(said[1] ?? '', /^notice: "app.test" now resolves to 10.0.0.9 \(was 10.0.0.1\)$/);
  });

  it('a name that never resolved fails the connect with a clear error', async () => {
    const r = new HostResolver('nowhere.test', { interval: 0, lookup: scripted([new Error('ENOTFOUND')]) });
    await assert.rejects(
      r.order(),
      (e: unknown) => e instanceof GatewayError && e.code === 'ERR_UPSTREAM_RESOLVE',
    );
  });

  it('with an interval, looks up again until stopped', async () => {
    const lookup = scripted([['10.0.0.1'], ['10.0.0.2']]);
    const r = new HostResolver('app.test', { interval: 1, lookup });
    await r.refresh();
    while (r.current[0] !== '10.0.0.2') await new Promise((resolve) => setTimeout(resolve, 2));
    r.stop();
    const calls = lookup.calls;
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(lookup.calls, calls);
  });

  it('IP literals need no resolver', () => {
    assert.equal(HostResolver.needed('127.0.0.1'), false);
    assert.equal(HostResolver.needed('::1'), false);
    assert.equal(HostResolver.needed('localhost'), true);
  });
});
