/**
 * Wires every discovery source Fairway ships into grpc-js, so `createClient` from `fairway-grpc` accepts every
 * target scheme with no further set-up. Explicit and idempotent: nothing happens on import.
 */
import { register, registerDiscoveryScheme } from '@fairway/grpc';
import { createEtcdSource } from '@fairway/discovery-etcd';
import { kubernetesDiscovery } from './optional-packages.js';

let done = false;

/**
 * Registers the policy and the `static` and `etcd` schemes, and `k8s` (with kuberesolver's `kubernetes`) when
 * `@fairway/discovery-kubernetes` is installed. Without it a `k8s:` target is refused when the client is made,
 * with the command that installs it. Safe to call any number of times.
 */
export function registerAll(): void {
  if (done) return;
  register(); // the policy and the built-in `static:` scheme
  // ---- discovery sources: one line each (owners: discovery-etcd, discovery-kubernetes) ----------------
  registerDiscoveryScheme('etcd', createEtcdSource);
  const kubernetes = kubernetesDiscovery(); // a separate install: loaded from the application's node_modules
  if (kubernetes) {
    registerDiscoveryScheme('k8s', kubernetes.createKubernetesSource);
    registerDiscoveryScheme('kubernetes', kubernetes.createKubernetesSource); // kuberesolver's scheme name
  }
  // ---- end of discovery sources --------------------------------------------------------------------------
  done = true;
}
