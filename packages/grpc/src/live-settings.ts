/**
 * The live configuration document's settings that apply per call (its revision, its retry and hedging
 * settings), shared between a channel's resolver bridge (which writes them when a snapshot carries a new
 * document) and the call layer of every client of that channel (which reads them on every call).
 */
import type { EndpointStats, RetryConfig } from '@fairway/core';

export class LiveSettings {
  /** Revision of the document in use; 0: none. */
  revision = 0;
  /** The document's retry settings; undefined: the client's own `retry` option applies. */
  retry: RetryConfig | undefined;

  /**
   * The channel's balancer state now, one row per endpoint (see `endpointTable`): set by the channel's Fairway
   * policy while it runs; undefined before the first resolution and after the policy is destroyed.
   */
  endpointTable: ((nowMs: number) => EndpointStats[]) | undefined;

  set(revision: number, retry: RetryConfig | undefined): void {
    this.revision = revision;
    this.retry = retry;
  }
}
