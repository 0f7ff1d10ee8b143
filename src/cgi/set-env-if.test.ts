import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../errors.ts';
import type { Param } from '../protocol/params.ts';
import { Prng } from '../util/prng.ts';
import { evaluateCondition, type ExprScope, parseCondition, parseStringExpression } from './expr.ts';
import { makeRequestFacts, type RequestFacts } from './request-facts.ts';
import { applySetEnvIf, compileSetEnvIf, type SetEnvIfRule, type SetEnvIfSpec } from './set-env-if.ts';

function rule(spec: SetEnvIfSpec): SetEnvIfRule {
  const compiled = compileSetEnvIf(spec);
  assert.ok(!Array.isArray(compiled), JSON.stringify(compiled));
  return compiled;
}

function apply(specs: SetEnvIfSpec[], env: Param[], facts: Partial<RequestFacts> = {}): Param[] {
  return applySetEnvIf(specs.map(rule), env, makeRequestFacts(facts));
}

const BASE: Param[] = [
  ['SCRIPT_NAME', '/app/index.php'],
  ['PATH_INFO', '/a/b'],
  ['PATH_TRANSLATED', '/var/www/prefix42/rest'],
  ['SCRIPT_FILENAME', 'proxy:fcgi://127.0.0.1:9000/srv/index.php'],
];

describe('set_env_if (ProxyFCGISetEnvIf forms)', () => {
  it('"true" NAME value: an unconditional override', () => {
    const env = apply([{ if: 'true', set: 'PATH_INFO', value: '/example' }], [...BASE]);
    assert.deepEqual(env[1], ['PATH_INFO', '/example']);
  });

  it('%{reqenv:NAME} in the value reads the environment being built', () => {
    const env = apply([{ if: 'true', set: 'PATH_INFO', value: '%{reqenv:SCRIPT_NAME}' }], [...BASE]);
    assert.deepEqual(env[1], ['PATH_INFO', '/app/index.php']);
  });

  it('regex captures in the condition are $1.. in the value', () => {
    const env = apply(
      [
        {
          if: "reqenv('PATH_TRANSLATED') =~ m|(/.*prefix)(\\d+)(.*)|",
          set: 'PATH_TRANSLATED',
          value: '$1$3',
        },
      ],
      [...BASE],
    );
    assert.deepEqual(env[2], ['PATH_TRANSLATED', '/var/www/prefix/rest']);
  });

  it('!NAME unsets; NAME without a value sets the empty string (still sent)', () => {
    const env = apply(
      [
        { if: 'true', set: '!PATH_INFO' },
        { if: 'true', set: 'SCRIPT_NAME' },
      ],
      [...BASE],
    );
    assert.equal(
      env.some((p) => p[0] === 'PATH_INFO'),
      false,
    );
    assert.deepEqual(env[0], ['SCRIPT_NAME', '']);
  });

  it('a false condition changes nothing, also for !NAME (httpd PR 64365)', () => {
    const env = apply(
      [
        { if: 'false', set: '!PATH_INFO' },
        { if: '-z %{QUERY_STRING}', set: 'X', value: 'no-query' },
      ],
      [...BASE],
      { rawTarget: '/?a=1' },
    );
    assert.deepEqual(env, BASE);
  });

  it('a new name is appended; setting replaces the first and drops repeats', () => {
    const env = apply(
      [
        { if: 'true', set: 'NEW', value: 'x' },
        { if: 'true', set: 'DUP', value: 'one' },
      ],
      [
        ['DUP', 'a'],
        ['K', 'v'],
        ['DUP', 'b'],
      ],
    );
    assert.deepEqual(env, [
      ['DUP', 'one'],
      ['K', 'v'],
      ['NEW', 'x'],
    ]);
  });

  it('rules run in order and see what earlier rules set', () => {
    const env = apply(
      [
        { if: 'true', set: 'A', value: 'first' },
        { if: "reqenv('A') == 'first'", set: 'B', value: '%{reqenv:A}-seen' },
      ],
      [],
    );
    assert.deepEqual(env, [
      ['A', 'first'],
      ['B', 'first-seen'],
    ]);
  });

  it('request variables, headers, &&, ||, !, -n, comparisons', () => {
    const facts = {
      method: 'POST',
      rawTarget: '/x/y?q=1',
      headers: ['Host', 'example.org', 'X-Mode', 'Beta'],
    };
    const env = apply(
      [
        {
          if: "%{REQUEST_METHOD} == 'POST' && %{REQUEST_URI} == '/x/y'",
          set: 'R1',
          value: '%{QUERY_STRING}',
        },
        { if: "tolower(req('x-mode')) == 'beta' || false", set: 'R2', value: '%{HTTP_HOST}' },
        { if: "!(-n %{HTTP_X_ABSENT}) && 10 -gt 9 && 'b' > 'a'", set: 'R3', value: 'ok' },
        { if: '%{REQUEST_URI} !~ /^\\/x/', set: 'R4', value: 'never' },
        { if: '%{HTTP_X_MODE} =~ /^beta$/i', set: 'R5', value: '$0' },
      ],
      [],
      facts,
    );
    assert.deepEqual(env, [
      ['R1', 'q=1'],
      ['R2', 'example.org'],
      ['R3', 'ok'],
      ['R5', 'Beta'],
    ]);
  });

  it('a condition that cannot be evaluated is a 503 (httpd aborts the env)', () => {
    assert.throws(
      () => apply([{ if: "reqenv('SCRIPT_NAME') -eq 3", set: 'X', value: 'y' }], [...BASE]),
      (e: unknown) => e instanceof GatewayError && e.status === 503 && e.code === 'ERR_SETENVIF_CONDITION',
    );
  });

  it('config problems name the key: bad condition, bad name, value with !NAME, unknown variable', () => {
    const problems = (spec: SetEnvIfSpec) => {
      const c = compileSetEnvIf(spec);
      return Array.isArray(c) ? c.map((p) => p.key) : [];
    };
    assert.deepEqual(problems({ if: 'true &&', set: 'X' }), ['if']);
    assert.deepEqual(problems({ if: '%{NOPE} == 1', set: 'X' }), ['if']);
    assert.deepEqual(problems({ if: '-f /etc/passwd', set: 'X' }), ['if']);
    assert.deepEqual(problems({ if: "x('a') == 1", set: 'X' }), ['if']);
    assert.deepEqual(problems({ if: 'true', set: '!' }), ['set']);
    assert.deepEqual(problems({ if: 'true', set: 'A B' }), ['set']);
    assert.deepEqual(problems({ if: 'true', set: '!X', value: 'y' }), ['value']);
    assert.deepEqual(problems({ if: 'true', set: 'X', value: '%{reqenv:A' }), ['value']);
    assert.deepEqual(problems({ if: '/x/ =~ /x/', set: 'X' }), ['if']);
    assert.deepEqual(problems({ if: "'a' =~ /x/g", set: 'X' }), ['if']);
  });

  it('tolower/toupper keep latin1 bytes one byte', () => {
    const env = apply([{ if: 'true', set: 'U', value: '%{toupper:a\u00ff}' }], []);
    assert.deepEqual(env, [['U', 'A\u00ff']]);
  });
});

describe('expr parser: random input never throws, never hangs', () => {
  const scope: ExprScope = { reqenv: () => 'v', header: () => 'h', variable: () => '1' };
  const alphabet = [...'tf!&|()\'"%{}$0123456789-nzeqltg=~<>. /m#i\\abcREQUEST_URI:reqenv'];
  it('20,000 random sources', () => {
    const prng = new Prng(20261122);
    for (let i = 0; i < 20_000; i++) {
      let s = '';
      const n = prng.int(0, 40);
      for (let j = 0; j < n; j++) s += alphabet[prng.int(0, alphabet.length - 1)];
      const c = parseCondition(s);
      if (c.ok) {
        const r = evaluateCondition(c.value, scope);
        assert.equal(typeof r.ok, 'boolean');
      }
      const w = parseStringExpression(s);
      assert.equal(typeof w.ok, 'boolean');
    }
  });
});
