/**
 * Newest incarnation wins: from a full endpoint list, keep one endpoint per instance.
 *
 * Guild Wars, MQTT and Akka's rule ("Newest connection wins" in algorithms.md): an endpoint is
 * `(instance, incarnation)`; when a registry lists two incarnations of one instance, only the newest is
 * used, at once. Which is newest:
 * 1. the one the balancer has not used yet (the registry only ever adds newer starts);
 * 2. otherwise (both unseen) the later start by {@link compareIncarnations} (Fairway's own
 *    `<startMs>-<hex>` incarnations);
 * 3. otherwise (e.g. two Pod uids) the one listed last.
 * A replaced incarnation is remembered (up to {@link RETIRED_PER_INSTANCE} per instance, forgotten when the
 * instance leaves the list) so a lagging registry that still lists it cannot bring it back. O(n).
 *
 * @packageDocumentation
 */
import type { EndpointInfo } from './contracts.js';
import { endpointInstance, endpointKey } from './endpoint-key.js';
import { compareIncarnations } from './incarnation.js';

/** Replaced incarnations remembered per instance. */
export const RETIRED_PER_INSTANCE = 8;

export class NewestIncarnation {
  /** instance -> key of the incarnation in use. */
  private readonly current = new Map<string, string>();
  /** instance -> keys of incarnations replaced by a newer one. */
  private readonly retired = new Map<string, string[]>();

  /**
   * Returns the endpoints to use, by key (duplicates of one key: the last listed wins), and records them
   * as the incarnations in use.
   */
  select(endpoints: readonly EndpointInfo[]): Map<string, EndpointInfo> {
    const chosen = new Map<string, EndpointInfo>();
    const byInstance = new Map<string, EndpointInfo>();
    for (const e of endpoints) {
      const k = endpointKey(e);
      const inst = endpointInstance(e);
      if (this.retired.get(inst)?.includes(k)) continue;
      const prev = byInstance.get(inst);
      if (prev !== undefined) {
        const pk = endpointKey(prev);
        if (pk !== k) {
          if (this.newer(inst, prev, e) === prev) {
            this.retire(inst, k);
            continue;
          }
          this.retire(inst, pk);
          chosen.delete(pk);
        }
      }
      byInstance.set(inst, e);
      chosen.set(k, e);
    }
    for (const [inst, e] of byInstance) {
      const k = endpointKey(e);
      const old = this.current.get(inst);
      if (old !== undefined && old !== k) this.retire(inst, old);
      this.current.set(inst, k);
    }
    for (const inst of this.current.keys()) {
      if (!byInstance.has(inst)) {
        this.current.delete(inst);
        this.retired.delete(inst);
      }
    }
    return chosen;
  }

  private newer(inst: string, a: EndpointInfo, b: EndpointInfo): EndpointInfo {
    const cur = this.current.get(inst);
    if (cur === endpointKey(a)) return b;
    if (cur === endpointKey(b)) return a;
    const order = compareIncarnations(a.incarnation ?? '', b.incarnation ?? '');
    return order !== undefined && order > 0 ? a : b;
  }

  private retire(inst: string, key: string): void {
    let list = this.retired.get(inst);
    if (list === undefined) this.retired.set(inst, (list = []));
    if (list.includes(key)) return;
    list.push(key);
    if (list.length > RETIRED_PER_INSTANCE) list.shift();
  }
}
