/**
 * B7 cold start, one client process: loads Fairway, makes a client for `etcd://<authority>/<service>`, sends
 * one call, and prints one JSON line: times in ms since this process started (performance.timeOrigin).
 * Usage: node cold-start.js <etcd authority> <service>
 */
import { performance } from 'node:perf_hooks';

const [authority, service] = process.argv.slice(2);
const out = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

async function main(): Promise<void> {
  if (!authority || !service) throw new Error('usage: cold-start.js <etcd authority> <service>');
  const startedMs = performance.now(); // module evaluation reached: node itself booted
  const grpc = await import('@grpc/grpc-js');
  const { createClient } = (await import('fairway-grpc')) as unknown as {
    createClient: (c: unknown, t: string, cr: unknown, o?: object) => import('@grpc/grpc-js').Client;
  };
  const { EchoClient, callOnce } = await import('./lib/echo.js');
  const loadedMs = performance.now();
  const client = createClient(EchoClient, `etcd://${authority}/${service}`, grpc.credentials.createInsecure(), {});
  // waitForReady semantics: the first call waits for discovery and a connection, bounded by its deadline.
  const res = await new Promise<Awaited<ReturnType<typeof callOnce>>>((resolve) => {
    const md = new grpc.Metadata();
    const fn = (client as unknown as Record<string, Function>)['echo']!;
    fn.call(client, Buffer.alloc(0), md, { deadline: Date.now() + 10_000, waitForReady: true }, (err: import('@grpc/grpc-js').ServiceError | null, r?: Buffer) =>
      resolve(err ? { code: err.code, backend: '' } : { code: 0, backend: r ? r.toString('latin1') : '' }),
    );
  });
  const firstCallMs = performance.now();
  client.close();
  out({ ok: res.code === 0, code: res.code, backend: res.backend, nodeBootMs: startedMs, modulesLoadedMs: loadedMs, firstCallMs, factoryToFirstCallMs: firstCallMs - loadedMs });
}

main()
  .then(() => process.exit(0))
  .catch((e: unknown) => {
    out({ ok: false, error: e instanceof Error ? e.message : String(e) });
    process.exit(1);
  });
