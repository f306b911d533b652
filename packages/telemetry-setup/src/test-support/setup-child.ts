/**
 * Test-only child process: `setupTelemetry(JSON.parse(FW_SETUP_OPTIONS))` with whatever OTEL_* variables the
 * test set, then FW_CALLS calls (default 3) driven through the observer contract (no network needed),
 * then forceFlush + shutdown. Prints `CONFIG <json>` and `DONE <ms for flush+shutdown>`, or `ERROR <message>`.
 */
import { createTelemetryObserver } from '@fairway/telemetry';
import { setupTelemetry } from '../index.js';

async function main(): Promise<void> {
  const telemetry = setupTelemetry(JSON.parse(process.env.FW_SETUP_OPTIONS ?? '{}'));
  process.stdout.write(`CONFIG ${JSON.stringify(telemetry.config)}\n`);
  const observer = createTelemetryObserver();
  const calls = Number(process.env.FW_CALLS ?? 3);
  for (let i = 0; i < calls; i++) {
    const call = observer.onCallStart({ method: '/fairway.setup.Probe/Ping', kind: 'unary', target: 'static:///127.0.0.1:1', clientZone: 'zone-a' });
    const attempt = call.onAttemptStart(1);
    attempt.outgoingHeaders();
    attempt.onPick({ endpointKey: 'k', address: '127.0.0.1:1', zone: 'zone-b', clientZone: 'zone-a', zoneMode: 'spill', reason: 'only one endpoint' });
    attempt.onEnd({ code: 0, details: '', timedOut: false });
    call.onEnd({ code: 0, details: '' });
  }
  const t0 = performance.now();
  await telemetry.forceFlush();
  await telemetry.shutdown();
  process.stdout.write(`DONE ${Math.round(performance.now() - t0)}\n`);
}

main().catch((error: unknown) => {
  process.stdout.write(`ERROR ${(error as Error).message}\n`);
  process.exitCode = 1;
});
