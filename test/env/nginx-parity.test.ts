/**
 * The CGI environment Portico sends by default equals what real nginx sends with its stock
 * `scgi_params` (SCGI) and `fastcgi.conf` (FastCGI): every request of PARITY_REQUESTS goes byte
 * for byte to nginx and to Portico, each in front of a recording backend, and the recorded
 * env lists (names, values, order, duplicates) and bodies are compared.
 *
 * nginx's side is normalised only for (parity-support.ts):
 * - what differs by construction: SERVER_PORT, REMOTE_PORT, SERVER_ADDR, SERVER_SOFTWARE;
 * - nginx < 1.29.5 (HTTP_HOST copied raw, not synthesised) and < 1.23 (repeated headers not
 *   merged), so the reference is current nginx whatever version is installed;
 * - Debian's additions to the stock files (HTTP_HOST $host, REMOTE_USER), dropped from the copy
 *   nginx includes.
 * Every other difference is one of DELIBERATE_DIFFERENCES, each with its reason; that list is
 * the table of docs/directives.md "Deliberate differences from nginx's stock params" (checked
 * below), and every entry must be needed by at least one request (no stale entries).
 *
 * A missing nginx skips the comparison, and fails it under CI=true (requirePeer).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { PORTICO_VERSION } from '../../src/cgi/variables.ts';
import { type CapturedRequest, captureNginxEnv } from '../support/nginx-env.ts';
import { NGINX_PATH } from '../support/nginx.ts';
import { requirePeer } from '../support/peer-process.ts';
import { headerList, type RawHttpRequest } from '../support/raw-clients.ts';
import type { EnvList } from '../support/recording-backend.ts';
import { PARITY_REQUESTS, type ParityRequest } from './parity-requests.ts';
import {
  asCurrentNginx,
  capturePorticoEnv,
  DEBIAN_ADDED_PARAMS,
  nginxVersion,
  normaliseByConstruction,
  type PorticoCaptureOptions,
  showEnv,
} from './parity-support.ts';

const nginx = requirePeer('nginx', NGINX_PATH);
const SERVER_NAME = 'localhost';

interface DiffContext {
  readonly protocol: 'scgi' | 'fastcgi';
  readonly request: RawHttpRequest;
  /** The location has pass_request_body off (nginx `*_pass_request_body off`). */
  readonly passRequestBody: boolean;
}

interface DeliberateDifference {
  /** The Topic cell of its row in docs/directives.md, exactly. */
  readonly topic: string;
  readonly reason: string;
  /** nginx's (normalised) env -> what Portico sends instead, for this difference alone. */
  readonly apply: (env: EnvList, ctx: DiffContext) => EnvList;
}

const without =
  (...names: string[]) =>
  (env: EnvList): EnvList =>
    env.filter(([n]) => !names.includes(n));

const envName = (header: string): string => `HTTP_${header.toUpperCase().replaceAll('-', '_')}`;

/** Where Portico's default env differs from nginx's stock params, on purpose. */
const DELIBERATE_DIFFERENCES: Readonly<Record<string, DeliberateDifference>> = {
  scgiPosition: {
    topic: 'SCGI: position of `SCGI=1`',
    reason:
      "The SCGI spec requires CONTENT_LENGTH first and SCGI=1 present; Portico's encoder puts " +
      'both at the head of every request, so no params set can leave SCGI out or misplace it.',
    apply: (env, ctx) => {
      if (ctx.protocol !== 'scgi') return env;
      const rest = env.filter(([n]) => n !== 'SCGI');
      return [rest[0]!, ['SCGI', '1'], ...rest.slice(1)];
    },
  },
  httpoxy: {
    topic: '`Proxy` request header',
    reason: 'httpoxy (CVE-2016-5385 and relatives): HTTP clients in the app read HTTP_PROXY as their proxy.',
    apply: without('HTTP_PROXY'),
  },
  contentHeaders: {
    topic: '`Content-Type` / `Content-Length` headers',
    reason: 'RFC 3875 4.1.18: headers already available as meta-variables are not repeated as HTTP_*.',
    apply: without('HTTP_CONTENT_TYPE', 'HTTP_CONTENT_LENGTH'),
  },
  transferEncoding: {
    topic: 'Client `Transfer-Encoding`',
    reason: 'The body reaches the backend re-framed (CONTENT_LENGTH, STDIN records), not chunked.',
    apply: without('HTTP_TRANSFER_ENCODING'),
  },
  hopByHop: {
    topic: 'Hop-by-hop headers',
    reason:
      'RFC 9110 7.6.1: they describe the client connection, which ends at Portico; the backend ' +
      "connection is Portico's own.",
    apply: (env) => {
      const listed = env
        .filter(([n]) => n === 'HTTP_CONNECTION')
        .flatMap(([, v]) => v.split(','))
        .map((t) => t.trim())
        .filter((t) => t !== '')
        .map(envName);
      const hop = ['CONNECTION', 'KEEP_ALIVE', 'TE', 'TRAILER', 'UPGRADE', 'PROXY_CONNECTION'];
      return without(...hop.map((h) => `HTTP_${h}`), ...listed)(env);
    },
  },
  oddHeaderNames: {
    topic: 'Odd header names',
    reason: 'E14: no client byte shapes a param name, and `X_Foo` cannot pose as `X-Foo`.',
    apply: (env, ctx) => {
      const odd = headerList(ctx.request.headers).filter(([n]) => !/^[A-Za-z0-9-]+$/.test(n));
      return env.filter(([n, v]) => !odd.some(([on, ov]) => envName(on) === n && ov === v));
    },
  },
  headerWhitespace: {
    topic: 'Tabs around header values',
    reason:
      'RFC 9110 5.5: a field value excludes leading and trailing whitespace, SP and HTAB alike ' +
      '(httpd and node:http trim both; nginx trims spaces only).',
    apply: (env) => env.map(([n, v]) => [n, n.startsWith('HTTP_') ? v.replace(/^[ \t]+|[ \t]+$/g, '') : v]),
  },
  passRequestBodyOff: {
    topic: '`CONTENT_LENGTH` with `pass_request_body off`',
    reason: 'E19: nginx announces body bytes it never sends, and the backend waits for them.',
    apply: (env, ctx) =>
      ctx.passRequestBody ? env : env.map(([n, v]) => [n, n === 'CONTENT_LENGTH' ? '0' : v]),
  },
  paramTwice: {
    topic: 'A param configured twice',
    reason:
      'SCGI forbids duplicate names and backends disagree on which one wins; Portico sends the ' +
      "last definition once, at the first one's place (what PHP ends up with behind nginx).",
    apply: (env) => {
      const last = new Map<string, string>();
      for (const [n, v] of env) if (!n.startsWith('HTTP_')) last.set(n, v);
      const seen = new Set<string>();
      const out: EnvList = [];
      for (const [n, v] of env) {
        if (n.startsWith('HTTP_')) out.push([n, v]);
        else if (!seen.has(n)) {
          seen.add(n);
          out.push([n, last.get(n)!]);
        }
      }
      return out;
    },
  },
};

/** Names of the differences some request needed, and how many requests were compared. */
const needed = new Set<string>();
let compared = 0;
let planned = 0;

/** nginx's env made comparable, then each deliberate difference applied in turn. */
function expectedPortico(env: EnvList, ctx: DiffContext): EnvList {
  let out = env;
  for (const [name, diff] of Object.entries(DELIBERATE_DIFFERENCES)) {
    const next = diff.apply(out, ctx);
    if (JSON.stringify(next) !== JSON.stringify(out)) needed.add(name);
    out = next;
  }
  return out;
}

const SOFTWARE = {
  nginx: /^nginx\/\d+\.\d+\.\d+$/,
  portico: new RegExp(`^portico/${PORTICO_VERSION.replaceAll('.', '\\.')}$`),
};

interface Scenario {
  readonly protocol: 'scgi' | 'fastcgi';
  readonly paramsInclude: 'scgi_params' | 'fastcgi.conf';
  readonly requests: readonly ParityRequest[];
  /** nginx directives in the server{} / location{} blocks, and Portico's location block keys. */
  readonly serverConf?: string;
  readonly nginxLocation?: string;
  readonly portico?: PorticoCaptureOptions['block'];
  readonly passRequestBody?: boolean;
}

/** Sends the scenario to both gateways once, then compares request by request. */
function compareScenario(title: string, s: Scenario): void {
  describe(title, () => {
    let version = 0;
    let ours: CapturedRequest[] = [];
    let theirs: CapturedRequest[] = [];
    before(async () => {
      version = nginxVersion();
      const requests = s.requests.map((r) => r.request);
      theirs = await captureNginxEnv({
        protocol: s.protocol,
        paramsInclude: s.paramsInclude,
        dropParams: DEBIAN_ADDED_PARAMS,
        requests,
        serverName: SERVER_NAME,
        ...(s.serverConf === undefined ? {} : { serverConf: s.serverConf }),
        ...(s.nginxLocation === undefined ? {} : { extraNginxConf: s.nginxLocation }),
      });
      ours = await capturePorticoEnv({
        protocol: s.protocol,
        requests,
        serverName: SERVER_NAME,
        block: s.portico,
      });
    });

    planned += s.requests.length;
    s.requests.forEach(({ name, request, todo }, i) => {
      const known = todo?.[s.protocol];
      it(name, known === undefined ? {} : { todo: known }, () => {
        compared++;
        const ng = theirs[i]!;
        const po = ours[i]!;
        assert.equal(po.status, ng.status, 'status');
        assert.equal(ng.status, 200, `nginx answered ${ng.status}: the request must reach the backend`);
        assert.equal(po.recorded.length, ng.recorded.length, 'backend requests');
        ng.recorded.forEach((rec, j) => {
          const mine = po.recorded[j]!;
          const ctx = { protocol: s.protocol, request, passRequestBody: s.passRequestBody ?? true };
          const reference = normaliseByConstruction(
            asCurrentNginx(rec.env, version, SERVER_NAME),
            ng,
            SOFTWARE.nginx,
          );
          const expected = expectedPortico(reference, ctx);
          const actual = normaliseByConstruction(mine.env, po, SOFTWARE.portico);
          assert.deepEqual(
            actual,
            expected,
            `backend request ${j + 1}\nnginx (normalised):\n${showEnv(reference)}\nportico:\n${showEnv(actual)}`,
          );
          assert.equal(mine.body.toString('latin1'), rec.body.toString('latin1'), 'body');
        });
      });
    });
  });
}

describe('CGI env: Portico vs real nginx', { skip: nginx.skip }, () => {
  it('the table has at least 30 requests', () => assert.ok(PARITY_REQUESTS.length >= 30));

  compareScenario('SCGI, scgi_params', {
    protocol: 'scgi',
    paramsInclude: 'scgi_params',
    requests: PARITY_REQUESTS,
  });
  compareScenario('FastCGI, fastcgi.conf', {
    protocol: 'fastcgi',
    paramsInclude: 'fastcgi.conf',
    requests: PARITY_REQUESTS,
  });

  // Settings off nginx's defaults, so that every deliberate difference shows at least once.
  const odd = {
    name: '`_` and `.` in header names',
    request: {
      method: 'GET',
      target: '/',
      headers: [
        ['X_Under', 'u'],
        ['X.Dot', 'd'],
        ['X-Ok', 'k'],
      ],
    } satisfies RawHttpRequest as RawHttpRequest,
  };
  compareScenario('SCGI, nginx with underscores_in_headers on, ignore_invalid_headers off', {
    protocol: 'scgi',
    paramsInclude: 'scgi_params',
    serverConf: 'underscores_in_headers on;\nignore_invalid_headers off;',
    requests: [odd],
  });
  // FastCGI only: with SCGI nginx announces CONTENT_LENGTH 5 and sends nothing, so the recorder
  // (like any SCGI server) waits for the body until nginx times out — the E19 bug itself.
  compareScenario('FastCGI, pass_request_body off', {
    protocol: 'fastcgi',
    paramsInclude: 'fastcgi.conf',
    nginxLocation: 'fastcgi_pass_request_body off;',
    portico: { pass_request_body: false },
    passRequestBody: false,
    requests: [{ name: 'POST with a body', request: { method: 'POST', target: '/p', body: 'hello' } }],
  });
  it('SCGI, pass_request_body off: nginx announces the body and never sends it (E19)', async () => {
    const request: RawHttpRequest = { method: 'POST', target: '/p', body: 'hello' };
    const [ng] = await captureNginxEnv({
      protocol: 'scgi',
      paramsInclude: 'scgi_params',
      dropParams: DEBIAN_ADDED_PARAMS,
      // The recorder, like any SCGI server, reads CONTENT_LENGTH bytes before it answers.
      extraNginxConf: 'scgi_pass_request_body off;\nscgi_read_timeout 1s;',
      requests: [request],
    });
    assert.equal(ng?.status, 504, 'nginx gave up waiting for the backend');
    assert.equal(ng?.recorded.length, 0, 'the backend never got the whole request');
    const [po] = await capturePorticoEnv({
      protocol: 'scgi',
      requests: [request],
      block: { pass_request_body: false },
    });
    assert.equal(po?.status, 200);
    assert.deepEqual(po?.env?.[0], ['CONTENT_LENGTH', '0']);
    assert.equal(po?.body?.length, 0);
  });
  compareScenario('FastCGI, fastcgi.conf plus SCRIPT_FILENAME', {
    protocol: 'fastcgi',
    paramsInclude: 'fastcgi.conf',
    nginxLocation: 'fastcgi_param SCRIPT_FILENAME /srv/app/index.php;',
    portico: { include_params: 'fastcgi.conf', params: { SCRIPT_FILENAME: '/srv/app/index.php' } },
    requests: [{ name: 'GET /x', request: { method: 'GET', target: '/x?y' } }],
  });

  it('every deliberate difference is needed by some request', (t) => {
    // Only meaningful when every comparison ran (a filtered run skips some).
    if (compared < planned) return t.skip(`${compared} of ${planned} requests compared`);
    const stale = Object.keys(DELIBERATE_DIFFERENCES).filter((n) => !needed.has(n));
    assert.deepEqual(stale, [], 'deliberate differences no request needed');
  });
});

describe('docs/directives.md', () => {
  it('lists exactly DELIBERATE_DIFFERENCES, in order', () => {
    const text = readFileSync(new URL('../../docs/directives.md', import.meta.url), 'utf8');
    const start = text.indexOf("\n## Deliberate differences from nginx's stock params");
    assert.ok(start !== -1, 'section present');
    const end = text.indexOf('\n## ', start + 1);
    const section = text.slice(start, end === -1 ? text.length : end);
    const lines = section.slice(section.indexOf('\n| Topic |') + 1).split('\n');
    const table = lines.slice(
      0,
      lines.findIndex((l) => !l.startsWith('|')),
    );
    // Past the header and the |---| line; the first cell of each row is the topic.
    const topics = table.slice(2).map((row) => row.slice(1, row.indexOf(' | ')).trim());
    assert.deepEqual(
      topics,
      Object.values(DELIBERATE_DIFFERENCES).map((d) => d.topic),
    );
  });
});
