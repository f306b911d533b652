// Issue 19: with two copies of @grpc/grpc-js (e.g. packages installed from a checkout with plain links),
// DuplicateGrpcError must name the folder of each copy; `npm ls @grpc/grpc-js` shows versions, not folders.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Client, credentials } from '@grpc/grpc-js';
import { loadEcho } from '@fairway/testing';
import { createChannel, createClient } from './factory.js';
import { DuplicateGrpcError } from './register.js';

const root = realpathSync(new URL('../../..', import.meta.url).pathname);
const ourCopy = dirname(realpathSync(createRequire(import.meta.url).resolve('@grpc/grpc-js/package.json')));
// A second, real copy of grpc-js, inside node_modules so its own dependencies resolve from there.
const scratch = mkdtempSync(join(root, 'node_modules', '.fairway-second-grpc-'));
const secondCopy = join(scratch, 'node_modules', '@grpc', 'grpc-js');
cpSync(ourCopy, secondCopy, { recursive: true });
after(() => rmSync(scratch, { recursive: true, force: true }));
const second = createRequire(join(scratch, 'app.js'))('@grpc/grpc-js') as typeof import('@grpc/grpc-js');

test('a client class of the second copy: the error names both folders, the caller\'s copy first', () => {
  assert.notEqual(second.Client, Client, 'a second copy is loaded');
  const { EchoClient } = loadEcho();
  const ForeignEcho = second.makeGenericClientConstructor((EchoClient as unknown as { service: never }).service, 'Echo');
  assert.throws(() => createClient(ForeignEcho as never, 'static:///127.0.0.1:1', credentials.createInsecure()), (e: unknown) => {
    assert.ok(e instanceof DuplicateGrpcError, String(e));
    assert.equal(e.fairwayCopy, ourCopy);
    assert.equal(e.otherCopies[0], realpathSync(secondCopy));
    assert.ok(e.message.includes(`in the copy at ${ourCopy}`), e.message);
    assert.ok(e.message.includes(`your code uses the copy at ${realpathSync(secondCopy)}`), e.message);
    return true;
  });
});

test('credentials of the second copy: the same', () => {
  assert.throws(() => createChannel('static:///127.0.0.1:1', second.credentials.createInsecure() as never), (e: unknown) => {
    assert.ok(e instanceof DuplicateGrpcError, String(e));
    assert.equal(e.otherCopies[0], realpathSync(secondCopy));
    assert.match(e.message, /--install-links/);
    return true;
  });
});
