/**
 * The grpc-js baselines: pick_first (grpc-js's default) and round_robin over a fixed address list, and a
 * plain client to a proxy. Each is a grpc-js client with `grpc.service_config` selecting the policy.
 */
import * as grpc from '@grpc/grpc-js';
import { EchoClient } from './echo.js';

export type BuiltinPolicy = 'pick_first' | 'round_robin';

/** A client over `ipv4:` addresses with a built-in policy. grpc-js defaults otherwise (transparent retries on). */
export function builtinClient(policy: BuiltinPolicy, addresses: readonly string[], extra: grpc.ChannelOptions = {}): grpc.Client {
  const target = `ipv4:${addresses.join(',')}`;
  return new EchoClient(target, grpc.credentials.createInsecure(), {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ [policy]: {} }] }),
    ...extra,
  });
}

/** A client to one address (the HAProxy frontend). */
export function proxyClient(address: string): grpc.Client {
  return new EchoClient(`ipv4:${address}`, grpc.credentials.createInsecure());
}

/** Waits until the client's channel is READY (bounded). */
export function waitReady(client: grpc.Client, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) =>
    client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())),
  );
}
