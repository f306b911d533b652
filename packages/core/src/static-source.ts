/**
 * The built-in `static:///host:port[@zone],...` discovery source: a fixed list, delivered once. Shared by the
 * grpc-js resolver bridge and the connect transport. Core has no timers, so the caller passes `defer`, which
 * runs a function on a later tick (a source never delivers from inside `start`).
 */
import { parseStaticTarget } from './target.js';
import type { DiscoverySource, DiscoverySourceFactory, EndpointInfo, ParsedTarget } from './contracts.js';

/** Makes the static source factory; the sources it makes report the target's fixed endpoint list (validated: throws `TargetError`). */
export function createStaticSourceFactory(defer: (fn: () => void) => void): DiscoverySourceFactory {
  return (target: ParsedTarget): DiscoverySource => {
    const endpoints: readonly EndpointInfo[] = parseStaticTarget(target);
    let closed = false;
    return {
      start(listener) {
        defer(() => {
          if (!closed) listener.onSnapshot({ endpoints, note: `static list of ${endpoints.length}` });
        });
      },
      close() {
        closed = true;
      },
    };
  };
}
