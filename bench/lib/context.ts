/** What every scenario receives, and the variants (Fairway and baselines) it runs against the same backends. */
import type * as grpc from '@grpc/grpc-js';
import type { Progress } from './progress.js';

export interface BenchContext {
  readonly quick: boolean;
  /**
   * The run's service-time seed. Latency scenarios seed their pods with it (and the scenario and pod names)
   * at the start of every measured phase, so every round of every variant meets the same service times: the
   * rounds repeat one experiment and the variants are compared on the same work (common random numbers).
   */
  readonly seed: number;
  readonly progress: Progress;
  /** Writes a status line on stderr. */
  log(message: string): void;
}

/** A running client variant. */
export interface Variant {
  readonly name: string;
  readonly client: grpc.Client;
  /** The zone the client sends in metadata (undefined: none). */
  readonly zone: string | undefined;
  close(): Promise<void>;
}
