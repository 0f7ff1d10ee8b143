/**
 * Portico in front of a real php-fpm, over TCP and over a unix socket: what PHP sees of the
 * query, forms, uploads and headers; large bodies both ways checked by sha256; HEAD, Expect:
 * 100-continue, flushed output arriving in steps, and PHP's error_log() in Portico's error log.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { PHP_FPM_PATH, type PhpFpm, requirePeer, startPhpFpm } from '../support/peers.ts';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { parseHttpResponse } from '../support/raw-clients.ts';
import { logLines, showLog, startTestGateway, type TestGateway } from './support/gateway.ts';
import {
  headEnd,
  httpJson,
  httpRequest,
  multipartBody,
  openRequest,
  RawConnection,
  splitIntoChunks,
} from './support/http.ts';
import { BIG_BLOCK_BYTES, bigBodySha256, PHP_UPLOAD_INI, writePhpScripts } from './support/php-scripts.ts';

const phpFpm = requirePeer('php-fpm', PHP_FPM_PATH);

interface Dump {
  get: Record<string, unknown>;
  post: Record<string, unknown>;
  files: Record<string, { name: string; type: string; size: number; error: number; sha256: string | null }>;
  server: Record<string, string>;
  input: string;
}

interface ShaResult {
  length: number;
  sha256: string;
  content_length: string | null;
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

for (const listen of ['tcp', 'unix'] as const) {
  describe(`php-fpm over ${listen} through Portico`, { skip: phpFpm.skip }, () => {
    let docroot: TempDir;
    let flags: TempDir;
    let fpm: PhpFpm;
    let gw: TestGateway;

    before(async () => {
      docroot = await makeTempDir('php-docroot');
      flags = await makeTempDir('php-flags');
      await writePhpScripts(docroot.path);
      fpm = await startPhpFpm({
        listen,
        docroot: docroot.path,
        ini: PHP_UPLOAD_INI,
        poolOptions: { pm_max_children: 4 },
      });
      gw = await startTestGateway({
        root: docroot.path,
        client_max_body_size: '64m',
        locations: [{ match: '~ \\.php$', fastcgi: { pass: fpm.address } }],
      });
    });

    after(async () => {
      await gw?.close();
      await fpm?.stop();
      await flags?.cleanup();
      await docroot?.cleanup();
    });

    it('GET with an encoded query: $_GET decoded, QUERY_STRING and REQUEST_URI raw, DOCUMENT_URI decoded', async () => {
      const query = 'q=%20x%2By&arr%5B%5D=1&arr%5B%5D=2&e=caf%C3%A9&plain=a+b';
      const target = `/a%20b.php?${query}`;
      const { status, json } = await httpJson<Dump>(gw.url, { path: target });
      assert.equal(status, 200);
      assert.deepEqual(json.get, { q: ' x+y', arr: ['1', '2'], e: 'café', plain: 'a b' });
      assert.equal(json.server.QUERY_STRING, query);
      assert.equal(json.server.REQUEST_URI, target);
      assert.equal(json.server.DOCUMENT_URI, '/a b.php');
      assert.equal(json.server.SCRIPT_NAME, '/a b.php');
      assert.equal(json.server.SCRIPT_FILENAME, join(docroot.path, 'a b.php'));
      assert.equal(json.server.REQUEST_METHOD, 'GET');
      assert.equal(json.server.GATEWAY_INTERFACE, 'CGI/1.1');
    });

    it('urlencoded POST: $_POST decoded, CONTENT_TYPE and CONTENT_LENGTH exact', async () => {
      const body = 'name=J%C3%BCrgen+X&list%5B%5D=a&list%5B%5D=b&empty=&amp=%26';
      const { status, json } = await httpJson<Dump>(gw.url, {
        method: 'POST',
        path: '/dump.php',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body,
      });
      assert.equal(status, 200);
      assert.deepEqual(json.post, { name: 'Jürgen X', list: ['a', 'b'], empty: '', amp: '&' });
      assert.equal(json.server.CONTENT_TYPE, 'application/x-www-form-urlencoded');
      assert.equal(json.server.CONTENT_LENGTH, String(Buffer.byteLength(body)));
      assert.equal(json.server.REQUEST_METHOD, 'POST');
    });

    it('multipart POST: fields in $_POST, the file in $_FILES with its exact bytes', async () => {
      const file = randomBytes(150_000);
      const { body, contentType } = multipartBody([
        { name: 'title', value: 'Grüße' },
        { name: 'tags[]', value: 'x' },
        { name: 'tags[]', value: 'y' },
        { name: 'upload', value: file, filename: 'data.bin', contentType: 'application/octet-stream' },
      ]);
      const { status, json } = await httpJson<Dump>(gw.url, {
        method: 'POST',
        path: '/dump.php',
        headers: { 'Content-Type': contentType },
        body,
      });
      assert.equal(status, 200);
      assert.deepEqual(json.post, { title: 'Grüße', tags: ['x', 'y'] });
      assert.deepEqual(json.files.upload, {
        name: 'data.bin',
        type: 'application/octet-stream',
        size: file.length,
        error: 0,
        sha256: sha256(file),
      });
      assert.equal(json.server.CONTENT_LENGTH, String(body.length));
    });

    it('a 20 MB upload arrives whole: PHP confirms its sha256', async () => {
      const data = randomBytes(20 * 1024 * 1024);
      const { status, json } = await httpJson<ShaResult>(gw.url, {
        method: 'POST',
        path: '/sha.php',
        headers: { 'Content-Type': 'application/octet-stream' },
        body: data,
      });
      assert.equal(status, 200);
      assert.equal(json.length, data.length);
      assert.equal(json.content_length, String(data.length));
      assert.equal(json.sha256, sha256(data));
    });

    it('a chunked upload (no Content-Length) reaches PHP with the exact CONTENT_LENGTH, and its spill file is removed', async () => {
      // Larger than client_body_buffer_size (16k), so the body goes through a temp file.
      const data = randomBytes(300_001);
      const chunks = splitIntoChunks(data, [1, 7000, 65536, 3, 100_000, 12_345]);
      const { status, json } = await httpJson<ShaResult>(gw.url, {
        method: 'POST',
        path: '/sha.php',
        headers: { 'Content-Type': 'application/octet-stream' },
        chunks,
      });
      assert.equal(status, 200);
      assert.equal(json.content_length, String(data.length));
      assert.equal(json.length, data.length);
      assert.equal(json.sha256, sha256(data));
      let left: string[] = [];
      for (let i = 0; i < 200; i++) {
        left = await readdir(gw.bodyTempDir);
        if (left.length === 0) break;
        await delay(10);
      }
      assert.deepEqual(left, [], 'the spooled body must be deleted when the request finishes');
    });

    it('HEAD: the headers arrive, no body byte does', async () => {
      const conn = await RawConnection.open(gw.address);
      conn.write('HEAD /dump.php?x=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      const data = await conn.readToClose();
      const end = headEnd(data);
      assert.ok(end > 0, `no complete head: ${data.toString('latin1')}`);
      const response = parseHttpResponse(data, true);
      assert.equal(response.status, 200);
      const type = response.headers.find(([n]) => n.toLowerCase() === 'content-type');
      assert.equal(type?.[1], 'application/json');
      assert.equal(data.length, end, `bytes after the HEAD response head: ${data.toString('latin1', end)}`);
    });

    it('Expect: 100-continue: the client gets 100, sends the body, then gets the response', async () => {
      const body = randomBytes(100_000);
      const conn = await RawConnection.open(gw.address);
      conn.write(
        `POST /sha.php HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
      );
      const interim = await conn.readUntil((d) => headEnd(d) > 0, '100 Continue');
      assert.match(interim.toString('latin1'), /^HTTP\/1\.1 100 Continue\r\n/);
      const skip = headEnd(interim);
      conn.write(body);
      const all = await conn.readToClose();
      const response = parseHttpResponse(all.subarray(skip));
      assert.equal(response.status, 200);
      const json = JSON.parse(response.body.toString()) as ShaResult;
      assert.equal(json.length, body.length);
      assert.equal(json.sha256, sha256(body));
    });

    it('Expect: 100-continue with a Content-Length over client_max_body_size: 413 without 100, connection closed', async () => {
      const conn = await RawConnection.open(gw.address);
      conn.write(
        'POST /sha.php HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000000\r\nExpect: 100-continue\r\n\r\n',
      );
      const data = await conn.readToClose();
      const text = data.toString('latin1');
      assert.doesNotMatch(text, /100 Continue/);
      assert.equal(parseHttpResponse(data).status, 413);
      assert.equal(conn.closedFlag, true);
    });

    for (const withLength of [true, false]) {
      it(`a 10 MB response ${withLength ? 'with Content-Length' : 'without Content-Length (chunked)'} arrives whole: sha256 checked`, async () => {
        const blocks = (10 * 1024 * 1024) / BIG_BLOCK_BYTES;
        const res = await httpRequest(gw.url, {
          path: `/big.php?blocks=${blocks}${withLength ? '&cl=1' : ''}`,
        });
        assert.equal(res.status, 200);
        assert.equal(res.body.length, blocks * BIG_BLOCK_BYTES);
        if (withLength) assert.equal(res.headers['content-length'], String(blocks * BIG_BLOCK_BYTES));
        else assert.equal(res.headers['transfer-encoding'], 'chunked');
        assert.equal(sha256(res.body), bigBodySha256(blocks));
      });
    }

    it('output PHP flushes arrives in steps: the first part before PHP is told to go on', async () => {
      const flag = join(flags.path, `go-${listen}-${randomBytes(4).toString('hex')}`);
      const res = await openRequest(gw.url, { path: `/flush.php?f=${encodeURIComponent(flag)}` });
      assert.equal(res.statusCode, 200);
      let text = '';
      const reader = (res as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
      while (!text.includes('\n')) {
        const next = await reader.next();
        assert.equal(next.done, false, `response ended after ${JSON.stringify(text)}`);
        text += next.value.toString();
      }
      assert.equal(text, 'first\n', 'the flushed part must arrive alone, before PHP goes on');
      await writeFile(flag, '');
      for (let next = await reader.next(); !next.done; next = await reader.next())
        text += next.value.toString();
      assert.equal(text, 'first\nsecond\n');
    });

    it("PHP's error_log() reaches the error log with the request id and the backend address", async () => {
      const marker = randomBytes(6).toString('hex');
      const res = await httpRequest(gw.url, { path: `/stderr.php?m=${marker}` });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'logged\n');
      const lines = logLines(gw.log, 'error', new RegExp(`portico-stderr-marker ${marker}`));
      assert.equal(lines.length, 1, showLog(gw.log));
      const line = lines[0]!;
      assert.match(line.message, /^FastCGI sent in stderr: "PHP message: portico-stderr-marker /);
      assert.match(String(line.fields?.requestId), /^[0-9a-f]{32}$/);
      assert.equal(line.fields?.backend, fpm.address);
    });

    it('a Proxy: request header never reaches PHP (httpoxy); other headers do', async () => {
      const { status, json } = await httpJson<Dump>(gw.url, {
        path: '/dump.php',
        headers: { Proxy: 'http://attacker.example:3128', 'X-Portico-Test': 'yes' },
      });
      assert.equal(status, 200);
      assert.equal(json.server.HTTP_PROXY, undefined);
      assert.equal(json.server.HTTP_X_PORTICO_TEST, 'yes');
    });
  });
}
