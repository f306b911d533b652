/**
 * Entry point of a backend child process (see `startBackendProcess`). Options come as JSON in argv[2];
 * prints `{"ready":true,"port":N}` on stdout once listening; answers IPC messages
 * `{type:'counts'}`, `{type:'setServiceTime', serviceTimeMs, jitterMs}`, `{type:'setFailCode', code}`,
 * `{type:'podStats'}`, `{type:'setCapacityFactor', factor}`, `{type:'stop'}` (graceful, then exits).
 */
import { startEchoBackend } from './echo-backend.js';
import type { EchoBackendOptions } from './echo-backend.js';

interface Msg {
  readonly type: string;
  readonly id?: number;
  readonly serviceTimeMs?: number;
  readonly jitterMs?: number;
  readonly code?: number;
  readonly factor?: number;
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as EchoBackendOptions;
  const backend = await startEchoBackend(options);
  process.on('message', (raw: unknown) => {
    const msg = raw as Msg;
    const answer = (value: unknown) => process.send?.({ id: msg.id, value });
    switch (msg.type) {
      case 'counts':
        answer({ ...backend.counts });
        break;
      case 'setServiceTime':
        backend.setServiceTime(msg.serviceTimeMs ?? 0, msg.jitterMs);
        answer(true);
        break;
      case 'podStats':
        answer(backend.pod.stats());
        break;
      case 'setCapacityFactor':
        try {
          backend.pod.setCapacityFactor(msg.factor ?? Number.NaN);
          answer(true);
        } catch (e) {
          answer({ error: (e as Error).message });
        }
        break;
      case 'setFailCode':
        backend.setFailCode(msg.code || undefined);
        answer(true);
        break;
      case 'stop':
        void backend.stop().then(() => {
          answer(true);
          process.exit(0);
        });
        break;
      default:
        answer(null);
    }
  });
  // The parent went away: never linger.
  process.on('disconnect', () => process.exit(0));
  process.stdout.write(`${JSON.stringify({ ready: true, port: backend.port, id: backend.id })}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`backend failed to start: ${String(e)}\n`);
  process.exit(1);
});
