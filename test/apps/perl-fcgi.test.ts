/**
 * A real Perl FastCGI application (the FCGI module from Debian's libfcgi-perl) through
 * Portico: an urlencoded form, a redirect, a cookie round trip and a streamed response.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ManagedPeer, startManagedPeer } from '../support/managed-peer.ts';
import { requirePeer } from '../support/peers.ts';
import { getFreePort } from '../support/ports.ts';
import { startTestGateway, type TestGateway } from '../integration/support/gateway.ts';
import { httpRequest } from '../integration/support/http.ts';

const PERL = '/usr/bin/perl';
/** Where perl finds FCGI.pm (the path has the architecture and perl version in it). */
function fcgiModulePath(): string {
  try {
    return execFileSync(PERL, ['-MFCGI', '-e', 'print $INC{"FCGI.pm"}'], { encoding: 'utf8' }) || 'FCGI.pm';
  } catch {
    return '/usr/lib/perl5/FCGI.pm (libfcgi-perl)';
  }
}
const FCGI_PM = fcgiModulePath();
const SCRIPT = join(import.meta.dirname, 'fixtures', 'fcgi_app.pl');
const peer = requirePeer('perl + libfcgi-perl', [PERL, FCGI_PM]);

describe('Perl FCGI application', { skip: peer.skip }, () => {
  let app: ManagedPeer;
  let gw: TestGateway;

  before(async () => {
    app = await startManagedPeer({
      name: 'perl-fcgi',
      requires: [PERL, FCGI_PM],
      launch: async () => {
        const address = `127.0.0.1:${await getFreePort()}`;
        return { command: PERL, args: [SCRIPT, address], address };
      },
    });
    gw = await startTestGateway({ locations: [{ match: '/', fastcgi: { pass: app.address } }] });
  });

  after(async () => {
    await gw?.close();
    await app?.stop();
  });

  it('GET, and an urlencoded POST read from STDIN', async () => {
    assert.equal((await httpRequest(gw.url, { path: '/x' })).body.toString(), 'perl ok GET /x');
    const res = await httpRequest(gw.url, {
      path: '/form',
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'name=Larry&lang=perl',
    });
    assert.equal(res.body.toString(), 'hello Larry, 2 fields');
  });

  it('a redirect, and a cookie set by the app that comes back', async () => {
    const go = await httpRequest(gw.url, { path: '/go' });
    assert.equal(go.status, 302);
    assert.equal(go.headers.location, '/landed?x=1');
    assert.equal((await httpRequest(gw.url, { path: '/landed?x=1' })).body.toString(), 'landed 1');
    const login = await httpRequest(gw.url, { path: '/login' });
    const cookie = String(login.headers['set-cookie']?.[0] ?? '');
    assert.match(cookie, /^session=perl-user/);
    const me = await httpRequest(gw.url, { path: '/me', headers: { cookie: 'session=perl-user' } });
    assert.equal(me.body.toString(), 'me: perl-user');
  });

  it('a streamed response arrives in pieces, in order', async () => {
    const pieces = await new Promise<string[]>((resolve, reject) => {
      const seen: string[] = [];
      const req = request(`${gw.url}/stream`, (res) => {
        res.setEncoding('utf8');
        res.on('data', (c: string) => seen.push(c));
        res.on('end', () => resolve(seen));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(pieces.join(''), 'chunk 0\nchunk 1\nchunk 2\n');
    assert.ok(pieces.length >= 2, `arrived in ${pieces.length} pieces`);
    assert.equal(pieces[0], 'chunk 0\n');
  });
});
