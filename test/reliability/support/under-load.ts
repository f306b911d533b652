/**
 * What the fault tests share: the load they keep on a client while they break things (workers calling Echo,
 * every call in a call ledger), and the clean-up of what they started, run after the file's tests whatever
 * happened.
 */
import { after } from 'node:test';
import type { Client } from '@grpc/grpc-js';
import { echoUnary, type BackendProcess, type EchoBackend } from '@fairway/testing';
import type { EtcdRegistration } from 'fairway-grpc';
import { createCallLedger, type CallLedger } from './call-ledger.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What a fault test started: set or push each as it starts, and {@link stopAfterTests} stops it. */
export interface FaultTestResources {
  client: Client | undefined;
  readonly backends: EchoBackend[];
  readonly registrations: EtcdRegistration[];
  /** Discovery's back end (etcd, the Kubernetes API stand-in): closed last, once nothing uses it. */
  discovery: { close(): Promise<void> } | undefined;
}

/** What a fault test with backend processes started: {@link stopProcessesAfterTests} stops them. */
export interface ProcessTestResources {
  client: Client | undefined;
  readonly procs: BackendProcess[];
}

/** Registers an `after` hook that closes the client and kills every backend process (SIGKILL). */
export function stopProcessesAfterTests(): ProcessTestResources {
  const started: ProcessTestResources = { client: undefined, procs: [] };
  after(async () => {
    started.client?.close();
    await Promise.all(started.procs.map((p) => p.kill('SIGKILL')));
  });
  return started;
}

/**
 * Registers an `after` hook that closes the client, deregisters every registration, force-stops the backends
 * and then closes discovery; returns where to record them.
 */
export function stopAfterTests(): FaultTestResources {
  const started: FaultTestResources = { client: undefined, backends: [], registrations: [], discovery: undefined };
  after(async () => {
    started.client?.close();
    await Promise.all(started.registrations.map((r) => r.deregister().catch(() => undefined)));
    for (const b of started.backends) b.forceStop();
    await started.discovery?.close();
  });
  return started;
}

export interface EchoLoadOptions {
  /** Workers, each with one call at a time. */
  readonly workers: number;
  /** A worker stops after this many calls. */
  readonly callsPerWorker: number;
  /** A worker's pause after each call, in ms. Default: none. */
  readonly pauseMs?: number;
  /** No call starts later than this many ms after the start, whatever the test does (a bound on a stuck test). */
  readonly hardStopMs: number;
}

/** Echo calls running on a client until {@link EchoLoad.stop}. */
export interface EchoLoad {
  /** Every call so far (30 s watchdog per call). */
  readonly ledger: CallLedger;
  /** The ids of the servers that answered calls started at or after `fromMs` (ms since the epoch). */
  servedBy(fromMs: number): Set<string>;
  /** Stops the workers and waits until each has ended its last call. Idempotent. */
  stop(): Promise<void>;
}

/** Starts the load: `workers` loops, each sending an Echo call (10 s deadline) through the ledger at a time. */
export function startEchoLoad(client: Client, o: EchoLoadOptions): EchoLoad {
  const ledger = createCallLedger({ watchdogMs: 30_000 });
  let stopped = false;
  const hardStop = Date.now() + o.hardStopMs;
  const workers = Promise.all(
    Array.from({ length: o.workers }, async () => {
      for (let n = 0; !stopped && n < o.callsPerWorker && Date.now() < hardStop; n++) {
        await ledger.track('echo', () => echoUnary(client, { message: 'x' }, { deadlineMs: 10_000 }));
        if (o.pauseMs !== undefined) await sleep(o.pauseMs);
      }
    }),
  );
  return {
    ledger,
    servedBy: (fromMs) =>
      new Set(ledger.entries.filter((x) => x.startedAt >= fromMs && x.result?.ok).map((x) => (x.result as { reply: { server_id: string } }).reply.server_id)),
    async stop() {
      stopped = true;
      await workers;
    },
  };
}
