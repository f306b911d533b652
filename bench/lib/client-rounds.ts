/**
 * The round loop of the open-loop latency scenarios (B1, B9, B10, B11): for each round and each variant, in
 * interleaved order, make the variant's client (or skip the variant for the whole run with a note when it
 * cannot be made, e.g. HAProxy missing), wait until it is ready, run the round, then always clean up, close
 * the client and let the pods settle before the next variant. A round that throws is noted as broken and the
 * run goes on.
 */
import type * as grpc from '@grpc/grpc-js';
import { waitReady } from './baselines.js';
import { noteBroken, type ScenarioResult } from './report.js';
import { interleave } from './rounds.js';
import { sleep } from './procs.js';

/** A variant: its name and how to make its client (a string says why it cannot be made). */
export interface ClientMaker {
  readonly name: string;
  readonly make: () => grpc.Client | string;
}

export interface ClientRoundOptions<M extends ClientMaker> {
  /** Runs after every round of a variant (even a broken one), before its client is closed. */
  readonly after?: (maker: M) => Promise<void> | void;
  /** Pause after closing the client, ms, so queues drain before the next variant. Default 200. */
  readonly settleMs?: number;
}

export async function interleaveClients<M extends ClientMaker>(
  s: ScenarioResult,
  makers: readonly M[],
  rounds: number,
  runRound: (maker: M, client: grpc.Client, round: number) => Promise<void>,
  options: ClientRoundOptions<M> = {},
): Promise<void> {
  const skipped = new Set<string>();
  await interleave(
    makers,
    rounds,
    async (m, roundNo) => {
      if (skipped.has(m.name)) return;
      const client = m.make();
      if (typeof client === 'string') {
        skipped.add(m.name);
        s.notes.push(`${m.name} skipped: ${client}`);
        return;
      }
      try {
        await waitReady(client);
        await runRound(m, client, roundNo);
      } finally {
        await options.after?.(m);
        client.close();
        await sleep(options.settleMs ?? 200);
      }
    },
    (m, roundNo, e) => noteBroken(s, `${m.name} (round ${roundNo + 1})`, e),
  );
}
