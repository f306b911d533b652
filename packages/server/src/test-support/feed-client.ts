/**
 * A client process for the takeover tests. Environment: `FEED_TARGET` (host:port), `FEED_INSTANCE`,
 * `FEED_INCARNATION` (identity sent in metadata), `FEED_METHOD` (`watch` | `chat`). Prints JSON lines:
 * `{"ev":"data","n":N}` per message and `{"ev":"status","code":C,"details":"..."}` when the stream ends, then exits.
 */
import { credentials, Metadata } from '@grpc/grpc-js';
import type { ServiceError, StatusObject } from '@grpc/grpc-js';
import { CLIENT_INCARNATION_HEADER, CLIENT_INSTANCE_HEADER } from '@fairway/core';
import { FeedClient } from './feed-service.js';

const target = process.env['FEED_TARGET']!;
const method = process.env['FEED_METHOD'] ?? 'watch';
const emit = (ev: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(ev)}\n`);

const md = new Metadata();
md.set(CLIENT_INSTANCE_HEADER, process.env['FEED_INSTANCE']!);
md.set(CLIENT_INCARNATION_HEADER, process.env['FEED_INCARNATION']!);

const client = new FeedClient(target, credentials.createInsecure()) as unknown as {
  watch(req: unknown, md: Metadata): NodeJS.EventEmitter;
  chat(md: Metadata): NodeJS.EventEmitter & { write(m: unknown): boolean };
};
const call = method === 'chat' ? client.chat(md) : client.watch({ from: process.env['FEED_INCARNATION'] }, md);
if (method === 'chat') (call as unknown as { write(m: unknown): boolean }).write({ hello: true });
call.on('data', (m: { n: number }) => emit({ ev: 'data', n: m.n }));
call.on('error', (_e: ServiceError) => undefined);
call.on('status', (s: StatusObject) => {
  emit({ ev: 'status', code: s.code, details: s.details });
  setTimeout(() => process.exit(0), 50);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
