/** The built-in `static:///host:port[@zone],...` discovery source: a fixed list, delivered once. */
import { parseStaticTarget } from '@fairway/core';
import type { DiscoverySource, DiscoverySourceFactory, EndpointInfo, ParsedTarget } from '@fairway/core';
import { later } from '../clock.js';

/** Makes a source that reports the target's fixed endpoint list (validated: throws `TargetError`). */
export const createStaticSource: DiscoverySourceFactory = (target: ParsedTarget): DiscoverySource => {
  const endpoints: readonly EndpointInfo[] = parseStaticTarget(target);
  let closed = false;
  return {
    start(listener) {
      later(() => {
        if (!closed) listener.onSnapshot({ endpoints, note: `static list of ${endpoints.length}` });
      });
    },
    close() {
      closed = true;
    },
  };
};
