// TLS and mTLS through the factory: certificates made by the test with `openssl` (a CA, a server certificate
// for 127.0.0.1, a client certificate), real grpc-js servers with ServerCredentials.createSsl, and clients from
// createClient with credentials.createSsl. Calls are balanced over three TLS backends; with mTLS a client
// without a certificate is refused, and one whose certificate another CA signed is refused too; a plaintext
// client cannot talk to a TLS backend. Every refusal is a status that says why.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, ServerCredentials, credentials, status } from '@grpc/grpc-js';
import type { Client, ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { loadEcho, echoUnary, runEchoLoad, countByServer } from '@fairway/testing';
import type { EchoReply, EchoRequest } from '@fairway/testing';
import { createClient } from 'fairway-grpc';

interface Pki {
  ca: Buffer;
  serverCert: Buffer;
  serverKey: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
  otherClientCert: Buffer;
  otherClientKey: Buffer;
}

function makePki(dir: string): Pki {
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ca = (name: string) => {
    ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`]);
  };
  const leaf = (name: string, caName: string, ext: string) => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
    ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  };
  ca('fairway-test-ca');
  ca('other-ca');
  leaf('server', 'fairway-test-ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'fairway-test-ca', 'extendedKeyUsage=clientAuth\n');
  leaf('other-client', 'other-ca', 'extendedKeyUsage=clientAuth\n');
  const r = (f: string) => readFileSync(join(dir, f));
  return {
    ca: r('fairway-test-ca.crt'),
    serverCert: r('server.crt'),
    serverKey: r('server.key'),
    clientCert: r('client.crt'),
    clientKey: r('client.key'),
    otherClientCert: r('other-client.crt'),
    otherClientKey: r('other-client.key'),
  };
}

const { EchoClient, service } = loadEcho();
const servers: Server[] = [];
const clients: Client[] = [];
let dir = '';
let pki: Pki;

async function startTlsBackend(id: string, requireClientCert: boolean): Promise<string> {
  const server = new Server();
  const unary = (call: ServerUnaryCall<EchoRequest, EchoReply>, cb: sendUnaryData<EchoReply>) =>
    cb(null, { message: call.request.message ?? '', server_id: id, zone: '', peer: call.getPeer() } as EchoReply);
  const unimplemented = (call: { emit?: unknown; end?: () => void; destroy?: (e: Error) => void }) => call.destroy?.(new Error('not used'));
  server.addService(service, { Unary: unary, ServerStream: unimplemented, ClientStream: unimplemented, Bidi: unimplemented } as never);
  const creds = ServerCredentials.createSsl(pki.ca, [{ cert_chain: pki.serverCert, private_key: pki.serverKey }], requireClientCert);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))));
  servers.push(server);
  return `127.0.0.1:${port}`;
}

function client(target: string, creds: ReturnType<typeof credentials.createSsl>): Client {
  const c = createClient(EchoClient, target, creds, { zone: 'zone-a' });
  clients.push(c);
  return c;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fairway-tls-'));
  pki = makePki(dir);
});
after(async () => {
  for (const c of clients) c.close();
  for (const s of servers) s.forceShutdown();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('TLS and mTLS through createClient', { concurrency: false, timeout: 120_000 }, () => {
  test('TLS: calls are balanced over three TLS backends; a plaintext client is refused', { timeout: 60_000 }, async () => {
    const addresses = await Promise.all(['t1', 't2', 't3'].map((id) => startTlsBackend(id, false)));
    const target = `static:///${addresses.map((a) => `${a}@zone-a`).join(',')}`;
    const c = client(target, credentials.createSsl(pki.ca));
    const results = await runEchoLoad(c, { calls: 300, concurrency: 6, deadlineMs: 20_000 });
    const counts = countByServer(results);
    assert.deepEqual(Object.keys(counts).sort(), ['t1', 't2', 't3'], JSON.stringify(counts));
    for (const id of ['t1', 't2', 't3']) assert.ok(counts[id]! >= 30, `each TLS backend gets a share: ${JSON.stringify(counts)}`);

    const plain = createClient(EchoClient, target, credentials.createInsecure());
    clients.push(plain);
    const r = await echoUnary(plain, { message: 'x' }, { deadlineMs: 10_000 });
    assert.equal(r.ok, false);
    assert.ok(!r.ok && (r.code === status.UNAVAILABLE || r.code === status.DEADLINE_EXCEEDED) && r.details.length > 0, JSON.stringify(r));
  });

  test('TLS: a server certificate from a CA the client does not trust is refused', { timeout: 60_000 }, async () => {
    const address = await startTlsBackend('t4', false);
    const otherCa = readFileSync(join(dir, 'other-ca.crt'));
    const c = client(`static:///${address}`, credentials.createSsl(otherCa));
    const r = await echoUnary(c, { message: 'x' }, { deadlineMs: 10_000 });
    assert.ok(!r.ok, 'refused');
    assert.ok(!r.ok && r.code === status.UNAVAILABLE && r.details.length > 0, JSON.stringify(r));
  });

  test('mTLS: a client with a certificate from the CA is balanced over the backends; without one, or with another CA\'s, it is refused', { timeout: 60_000 }, async () => {
    const addresses = await Promise.all(['m1', 'm2', 'm3'].map((id) => startTlsBackend(id, true)));
    const target = `static:///${addresses.map((a) => `${a}@zone-a`).join(',')}`;
    const good = client(target, credentials.createSsl(pki.ca, pki.clientKey, pki.clientCert));
    const results = await runEchoLoad(good, { calls: 300, concurrency: 6, deadlineMs: 20_000 });
    const counts = countByServer(results);
    assert.deepEqual(Object.keys(counts).sort(), ['m1', 'm2', 'm3'], JSON.stringify(counts));

    const noCert = client(target, credentials.createSsl(pki.ca));
    const r1 = await echoUnary(noCert, { message: 'x' }, { deadlineMs: 10_000 });
    assert.ok(!r1.ok && r1.code === status.UNAVAILABLE && r1.details.length > 0, `no client certificate: ${JSON.stringify(r1)}`);

    const wrongCa = client(target, credentials.createSsl(pki.ca, pki.otherClientKey, pki.otherClientCert));
    const r2 = await echoUnary(wrongCa, { message: 'x' }, { deadlineMs: 10_000 });
    assert.ok(!r2.ok && r2.code === status.UNAVAILABLE && r2.details.length > 0, `client certificate from another CA: ${JSON.stringify(r2)}`);
  });
});
