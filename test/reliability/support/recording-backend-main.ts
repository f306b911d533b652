/**
 * An Echo backend child process that records, synchronously and before anything else, the `message` of every
 * unary request it receives into a file (argv[3]), so a test can tell after a `kill -9` exactly which calls the
 * server had received. Service time argv[4] ms. Prints `{"port":N}` once listening.
 */
import { appendFileSync } from 'node:fs';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { loadEcho } from '@fairway/testing';
import type { EchoReply, EchoRequest } from '@fairway/testing';

const id = process.argv[2] ?? 'recorder';
const file = process.argv[3]!;
const serviceTimeMs = Number(process.argv[4] ?? '5');
const server = new Server();
server.addService(loadEcho().service, {
  Unary: (call: ServerUnaryCall<EchoRequest, EchoReply>, callback: sendUnaryData<EchoReply>) => {
    appendFileSync(file, `${call.request.message ?? ''}\n`);
    setTimeout(() => {
      callback(null, { message: call.request.message ?? '', server_id: id, zone: '', call_number: 0, sequence: 1, address: '', peer: '' });
    }, serviceTimeMs);
  },
});
server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) => {
  if (error) {
    process.stderr.write(`recording backend: ${error.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
process.on('disconnect', () => process.exit(0));
