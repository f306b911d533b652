/**
 * Wires every discovery source Fairway ships into grpc-js, so `createClient` from `fairway-grpc` accepts every
 * target scheme with no further set-up. Explicit and idempotent: nothing happens on import.
 */
import { register, registerDiscoveryScheme } from '@fairway/grpc';
import { createKubernetesSource } from '@fairway/discovery-kubernetes';
import { createEtcdSource } from '@fairway/discovery-etcd';

let done = false;

/** Registers the policy and the `static`, `etcd` and `k8s` schemes. Safe to call any number of times. */
export function registerAll(): void {
  if (done) return;
  register(); // the policy and the built-in `static:` scheme
  // ---- discovery sources: one line each (owners: discovery-etcd, discovery-kubernetes) ----------------
  registerDiscoveryScheme('etcd', createEtcdSource);
  registerDiscoveryScheme('k8s', createKubernetesSource);
  registerDiscoveryScheme('kubernetes', createKubernetesSource); // kuberesolver's scheme name
  // ---- end of discovery sources --------------------------------------------------------------------------
  done = true;
}
