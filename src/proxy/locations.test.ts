import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../errors.ts';
import { Prng } from '../util/prng.ts';
import {
  compileConfigRegex,
  compileLocations,
  type LocationMatch,
  type LocationSpec,
  slashRedirectLocation,
} from './locations.ts';

interface Loc extends LocationSpec {
  readonly id: string;
}

function matcher(...specs: Array<string | Partial<Loc>>) {
  const list: Loc[] = specs.map((s, i) =>
    typeof s === 'string' ? { id: `#${i}`, match: s } : { id: `#${i}`, match: '', ...s },
  );
  return compileLocations(list);
}

function which(m: ReturnType<typeof matcher>, path: string, internal = false): string | undefined {
  return m.match(path, { internal })?.location.match;
}

describe('nginx location precedence', () => {
  it('the documentation example: =, prefix, ^~, ~* in any order', () => {
    const specs = ['= /', '/', '/documents/', '^~ /images/', '~* \\.(gif|jpg|jpeg)$'];
    for (const order of [specs, [...specs].reverse()]) {
      const m = matcher(...order);
      assert.equal(which(m, '/'), '= /');
      assert.equal(which(m, '/index.html'), '/');
      assert.equal(which(m, '/documents/document.html'), '/documents/');
      assert.equal(which(m, '/images/1.gif'), '^~ /images/');
      assert.equal(which(m, '/documents/1.jpg'), '~* \\.(gif|jpg|jpeg)$');
    }
  });

  it('an exact match beats a regex and an equal prefix', () => {
    const m = matcher('~ .*', '/api', '= /api');
    assert.equal(which(m, '/api'), '= /api');
    assert.equal(which(m, '/api/'), '~ .*');
    assert.equal(which(m, '/apix'), '~ .*');
  });

  it('^~ stops the regexes only when it is the longest prefix', () => {
    const m = matcher('^~ /static/', '/static/js/', '~ \\.js$');
    assert.equal(which(m, '/static/a.js'), '^~ /static/');
    assert.equal(which(m, '/static/js/a.js'), '~ \\.js$');
    assert.equal(which(m, '/static/js/a.txt'), '/static/js/');
  });

  it('a regex beats a plain prefix, even a longer one', () => {
    const m = matcher('/app/long/prefix/', '~ \\.php$');
    assert.equal(which(m, '/app/long/prefix/x.php'), '~ \\.php$');
    assert.equal(which(m, '/app/long/prefix/x.html'), '/app/long/prefix/');
  });

  it('the first matching regex in configuration order wins', () => {
    assert.equal(which(matcher('~ \\.php$', '~ ^/a/'), '/a/x.php'), '~ \\.php$');
    assert.equal(which(matcher('~ ^/a/', '~ \\.php$'), '/a/x.php'), '~ ^/a/');
  });

  it('the longest prefix wins among prefixes, whatever their order', () => {
    const m = matcher('/a/b/', '/', '/a/', '/a');
    assert.equal(which(m, '/a/b/c'), '/a/b/');
    assert.equal(which(m, '/a/x'), '/a/');
    assert.equal(which(m, '/ax'), '/a');
    assert.equal(which(m, '/b'), '/');
    assert.equal(which(matcher('/a/'), '/b'), undefined);
  });

  it('~ is case-sensitive, ~* is not', () => {
    assert.equal(which(matcher('~ \\.JPG$'), '/x.jpg'), undefined);
    assert.equal(which(matcher('~* \\.JPG$'), '/x.jpg'), '~* \\.JPG$');
    assert.equal(which(matcher('~ (?i)\\.JPG$'), '/x.jpg'), '~ (?i)\\.JPG$');
    // prefixes are case-sensitive on Linux (nginx folds them only on case-insensitive file systems)
    assert.equal(which(matcher('/App/'), '/app/x'), undefined);
  });

  it('regex captures are $0, $1, ... and named groups, unmatched groups empty', () => {
    const m = matcher('~ ^/(?<app>\\w+)/(.*?)(\\.php)?$', '~ ^/py/(?P<mod>\\w+)$');
    const r = m.match('/shop/cart') as LocationMatch<Loc>;
    assert.deepEqual(r.captures, ['/shop/cart', 'shop', 'cart', '']);
    assert.deepEqual({ ...r.groups }, { app: 'shop' });
    assert.equal(r.modifier, '~');
    const p = m.match('/py/mod1') as LocationMatch<Loc>;
    assert.equal(p.captures[0], '/py/mod1');
    const q = matcher('~ ^/py/(?P<mod>\\w+)$').match('/py/mod1') as LocationMatch<Loc>;
    assert.deepEqual({ ...q.groups }, { mod: 'mod1' });
    assert.deepEqual(matcher('/').match('/x')?.captures, []);
  });

  it('modifiers may be written without a space', () => {
    const m = matcher('=/x', '~\\.php$', '~*\\.TXT$', '^~/s/');
    assert.equal(which(m, '/x'), '=/x');
    assert.equal(which(m, '/a.php'), '~\\.php$');
    assert.equal(which(m, '/a.txt'), '~*\\.TXT$');
    assert.equal(which(m, '/s/a.php'), '^~/s/');
  });

  it('prefixes and patterns with non-ASCII text compare as UTF-8 bytes, like the path', () => {
    const bytes = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
    const m = matcher('/café/', '~ é\\.txt$');
    assert.equal(which(m, bytes('/café/menu')), '/café/');
    assert.equal(which(m, bytes('/x/é.txt')), '~ é\\.txt$');
  });

  it('named locations are found only by name', () => {
    const m = matcher('@fallback', '/');
    assert.equal(m.named('@fallback')?.id, '#0');
    assert.equal(m.named('@other'), undefined);
    assert.equal(which(m, '/@fallback'), '/');
  });
});

describe('internal locations', () => {
  it('external requests that land on one get no location (404), never a broader one', () => {
    const m = matcher({ match: '/private/', internal: true }, '/', { match: '= /secret', internal: true });
    assert.equal(which(m, '/private/x'), undefined);
    assert.equal(which(m, '/private/x', true), '/private/');
    assert.equal(which(m, '/secret'), undefined);
    assert.equal(which(m, '/secret', true), '= /secret');
    assert.equal(which(m, '/public'), '/');
  });

  it('applies to regex locations too', () => {
    const m = matcher({ match: '~ ^/_int/', internal: true }, '/');
    assert.equal(which(m, '/_int/x'), undefined);
    assert.equal(which(m, '/_int/x', true), '~ ^/_int/');
  });
});

describe('slashless redirect (C.1.10: a prefix ending in / with a pass answers /app with 301)', () => {
  const app = { match: '/app/', autoRedirect: true };

  it('flags the slashless path, and only that one', () => {
    const m = matcher('/', app);
    const r = m.match('/app') as LocationMatch<Loc>;
    assert.equal(r.location.match, '/app/');
    assert.equal(r.redirectSlashless, true);
    assert.equal(m.match('/app/')?.redirectSlashless, false);
    assert.equal(m.match('/app/x')?.redirectSlashless, false);
    assert.equal(which(m, '/ap'), '/');
    assert.equal(which(m, '/appx'), '/');
  });

  it('needs autoRedirect (a location without a pass does not redirect)', () => {
    const m = matcher('/', '/app/');
    assert.equal(which(m, '/app'), '/');
    assert.equal(m.match('/app')?.redirectSlashless, false);
  });

  it('an exact or equal prefix location wins over the redirect', () => {
    assert.equal(which(matcher(app, '= /app'), '/app'), '= /app');
    const p = matcher(app, '/app', '~ ^/app$');
    assert.equal(p.match('/app')?.redirectSlashless, false);
    assert.equal(which(p, '/app'), '~ ^/app$');
  });

  it('is decided before the regexes, as nginx returns NGX_DONE before testing them', () => {
    const m = matcher('~ ^/app$', app);
    assert.equal(m.match('/app')?.redirectSlashless, true);
  });

  it('works whatever the shape of the tree around the name', () => {
    // `/app` is a split point (siblings /app/ and /apple), or the path ends inside an edge.
    assert.equal(matcher(app, '/apple').match('/app')?.redirectSlashless, true);
    assert.equal(matcher(app, '/app/x/').match('/app')?.redirectSlashless, true);
    assert.equal(
      matcher({ match: '/a/b/', autoRedirect: true }, '/a/').match('/a/b')?.redirectSlashless,
      true,
    );
  });

  it('applies to exact and ^~ locations ending in / too (nginx node->auto_redirect)', () => {
    assert.equal(matcher({ match: '= /app/', autoRedirect: true }).match('/app')?.redirectSlashless, true);
    assert.equal(matcher({ match: '^~ /app/', autoRedirect: true }).match('/app')?.redirectSlashless, true);
  });

  it('an internal target gives external requests no location', () => {
    const m = matcher('/', { match: '/app/', autoRedirect: true, internal: true });
    assert.equal(m.match('/app'), undefined);
    assert.equal(m.match('/app', { internal: true })?.redirectSlashless, true);
  });

  it('slashRedirectLocation escapes the name as ngx_escape_uri and appends the query', () => {
    const r = matcher(app).match('/app') as LocationMatch<Loc>;
    assert.equal(slashRedirectLocation(r, ''), '/app/');
    assert.equal(slashRedirectLocation(r, 'a=1&b=2'), '/app/?a=1&b=2');
    const odd = matcher({ match: '/caf é#?/', autoRedirect: true });
    const bytes = Buffer.from('/caf é#?', 'utf8').toString('latin1');
    assert.equal(slashRedirectLocation(odd.match(bytes) as LocationMatch<Loc>, ''), '/caf%20%C3%A9%23%3F/');
  });
});

describe('configuration errors', () => {
  it('collects every issue with its location', () => {
    const list: Loc[] = [
      { id: 'a', match: '/x' },
      { id: 'b', match: '^~ /x' },
      { id: 'c', match: '= /y' },
      { id: 'd', match: '= /y' },
      { id: 'e', match: '~ a(b' },
      { id: 'f', match: 'relative' },
      { id: 'g', match: '~ ' },
      { id: 'h', match: '@n' },
      { id: 'i', match: '@n' },
      { id: 'j', match: '' },
    ];
    assert.throws(
      () =>
        compileLocations(list, {
          locate: (i) => ({ file: 'f.yaml', line: i + 1, column: 3, path: `l[${i}]` }),
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(
          err.issues.map((i) => [i.line, i.path, i.message]),
          [
            [2, 'l[1]', 'duplicate location "/x"'],
            [4, 'l[3]', 'duplicate location "= /y"'],
            [
              5,
              'l[4]',
              `invalid regular expression "a(b": Invalid regular expression: /a(b/: Unterminated group`,
            ],
            [6, 'l[5]', 'location path "relative" must start with "/"'],
            [7, 'l[6]', 'location "~ " has no regex'],
            [9, 'l[8]', 'duplicate location "@n"'],
            [10, 'l[9]', 'location "" has no path'],
          ],
        );
        return true;
      },
    );
  });

  it('PCRE-only syntax is reported, not silently changed', () => {
    assert.equal(typeof compileConfigRegex('a++', false), 'string');
    assert.ok(compileConfigRegex('[(?P<x>)]', false) instanceof RegExp);
  });
});

// A direct transcription of the nginx rules over the list, to check the radix tree against.
function reference(list: readonly Loc[], path: string, internal: boolean): [string, boolean] | undefined {
  const gate = (l: Loc, redirect: boolean): [string, boolean] | undefined =>
    l.internal && !internal ? undefined : [l.id, redirect];
  const kind = (l: Loc) =>
    l.match.startsWith('= ') ? '=' : l.match.startsWith('^~ ') ? '^~' : l.match.startsWith('~ ') ? '~' : '';
  const name = (l: Loc) => l.match.replace(/^(=|\^~|~) /, '');
  const exact = list.find((l) => kind(l) === '=' && name(l) === path);
  if (exact) return gate(exact, false);
  const prefixes = list.filter((l) => kind(l) === '' || kind(l) === '^~');
  if (!prefixes.some((l) => name(l) === path)) {
    const slashed = `${path}/`;
    const at = list.filter(
      (l) => (kind(l) === '=' || kind(l) === '' || kind(l) === '^~') && name(l) === slashed,
    );
    if (at.some((l) => l.autoRedirect)) {
      const target = at.find((l) => kind(l) === '=') ?? at[0]!;
      return gate(target, true);
    }
  }
  let best: Loc | undefined;
  for (const l of prefixes)
    if (path.startsWith(name(l)) && (!best || name(l).length > name(best).length)) best = l;
  if (best && kind(best) === '^~') return gate(best, false);
  const rx = list.find((l) => kind(l) === '~' && new RegExp(name(l)).test(path));
  if (rx) return gate(rx, false);
  return best ? gate(best, false) : undefined;
}

describe('radix tree agrees with a literal reading of the nginx rules (property)', () => {
  it('random locations and paths over a small alphabet', () => {
    const rng = new Prng();
    const word = (max: number) => {
      let s = '/';
      const n = rng.int(0, max);
      for (let i = 0; i < n; i++) s += 'ab/'[rng.int(0, 2)];
      return s;
    };
    for (let round = 0; round < 300; round++) {
      const list: Loc[] = [];
      const seen = new Set<string>();
      const count = rng.int(1, 12);
      for (let i = 0; i < count; i++) {
        const mod = ['', '', '= ', '^~ ', '~ '][rng.int(0, 4)]!;
        const body = mod === '~ ' ? ['^/a', 'b$', 'a/b', '^/b/?$'][rng.int(0, 3)]! : word(5);
        const key = `${mod === '= ' ? '=' : mod === '~ ' ? `~${i}` : 'p'}${body}`;
        if (seen.has(key)) continue;
        seen.add(key);
        list.push({
          id: `L${i}`,
          match: mod + body,
          internal: rng.int(0, 5) === 0,
          autoRedirect: rng.int(0, 1) === 1,
        });
      }
      const m = compileLocations(list);
      for (let k = 0; k < 40; k++) {
        const path = word(7);
        const internal = rng.int(0, 1) === 1;
        const got = m.match(path, { internal });
        const want = reference(list, path, internal);
        assert.deepEqual(
          got === undefined ? undefined : [got.location.id, got.redirectSlashless],
          want,
          `seed ${rng.seed}: ${JSON.stringify(list.map((l) => [l.match, l.autoRedirect, l.internal]))} path ${path}`,
        );
      }
    }
  });
});
