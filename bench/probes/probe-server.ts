/**
 * One probe backend process: a grpc-js server with one unary method that answers after a fixed service time
 * (a timer; 0 answers at once). It binds port 0, reports the port to its parent over IPC and exits when the
 * parent goes away. Equal servers, each in its own process, so the client process measures only itself.
 *
 * argv: <id> <serviceMs>
 */
import * as grpc from '@grpc/grpc-js';
import { PROBE_SERVICE } from './probe-service.js';

const [id = 'p0', serviceArg = '2'] = process.argv.slice(2);
const serviceMs = Number(serviceArg);
const reply = Buffer.from(id, 'latin1');
const server = new grpc.Server();
server.addService(PROBE_SERVICE, {
  call: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
    if (serviceMs <= 0) callback(null, reply);
    else setTimeout(() => callback(null, reply), serviceMs);
  },
});
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    process.send?.({ op: 'error', message: err.message });
    process.exit(1);
  }
  process.send?.({ op: 'listening', port });
});
process.on('disconnect', () => process.exit(0));
