/**
 * Test-only access to the Fairway policy instance behind a grpc-js client, through grpc-js 1.14 internals
 * (channel -> internalChannel -> resolvingLoadBalancer -> childLoadBalancer -> currentChild). Used to check
 * that tracked per-endpoint state returns to the live set. Throws, naming the step, if grpc-js's shape changed.
 */
import type { Client } from '@grpc/grpc-js';
import type { EndpointStats } from '@fairway/core';

export interface PolicyView {
  /** Endpoint keys of the policy's children (one connection each) and their states. */
  children(): Array<{ key: string; state: string }>;
  /** Picks tracked but never started. */
  unstartedPicks(): number;
  /** The Balancer's per-endpoint rows. */
  balancerRows(): EndpointStats[];
}

export function policyOf(client: Client): PolicyView {
  const lb = () => {
    const channel = client.getChannel() as unknown as Record<string, unknown>;
    const internal = channel['internalChannel'] as Record<string, unknown> | undefined;
    const resolving = internal?.['resolvingLoadBalancer'] as Record<string, unknown> | undefined;
    const handler = resolving?.['childLoadBalancer'] as Record<string, unknown> | undefined;
    const current = handler?.['currentChild'] as Record<string, unknown> | null | undefined;
    if (!current || typeof current['debugState'] !== 'function') {
      throw new Error('policyOf: no Fairway policy found behind this client (grpc-js internals changed, or no resolution yet)');
    }
    return current as unknown as {
      debugState(): { children: Array<{ key: string; state: string }>; unstartedPicks: number };
      balancer?: { snapshot(nowMs: number): EndpointStats[] };
    };
  };
  return {
    children: () => lb().debugState().children,
    unstartedPicks: () => lb().debugState().unstartedPicks,
    balancerRows: () => lb().balancer?.snapshot(performance.now()) ?? [],
  };
}
