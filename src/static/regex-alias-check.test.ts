import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aliasBoundary, regexAliasProblem } from './regex-alias-check.ts';

test('the boundary is the literal directory before the first variable', () => {
  assert.equal(aliasBoundary('/data/images/$1'), '/data/images/');
  assert.equal(aliasBoundary('/home/$1/public_html$2'), '/home/');
  assert.equal(aliasBoundary('/data/img$1'), '/data/');
  assert.equal(aliasBoundary('/$1'), '/');
  assert.equal(aliasBoundary('/data/x/'), '/data/x/');
});

test('a regex alias serving files must start with a directory; captures are not required (nginx)', () => {
  assert.equal(regexAliasProblem('/data/images/$1'), undefined);
  assert.equal(regexAliasProblem('/srv/static/favicon.ico'), undefined);
  assert.match(regexAliasProblem('/$1/x') ?? '', /directory/);
  assert.equal(regexAliasProblem('/$1/x', false), undefined);
});
