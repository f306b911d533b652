/**
 * A discovery source driven by the test: register its `factory` under a scheme, then `push` snapshots or
 * errors. Records what the bridge asked of it (starts, refreshes, closes, the options it was given).
 */
import type { DiscoveryListener, DiscoverySource, DiscoverySourceFactory, EndpointInfo, ParsedTarget } from '@fairway/core';

export interface ScriptedDiscovery {
  readonly factory: DiscoverySourceFactory;
  /** Sends a full snapshot to every started source (delivered when it is started, if not yet). */
  push(endpoints: readonly EndpointInfo[], note?: string): void;
  /** Sends an error to every started source. */
  fail(message: string, fatalForNow: boolean): void;
  /** Called on `refresh()`: by default re-sends the last snapshot (what a naive source would do). */
  onRefresh: (() => void) | undefined;
  readonly stats: { created: number; started: number; refreshes: number; closed: number; options: unknown[]; targets: ParsedTarget[] };
}

export function createScriptedDiscovery(): ScriptedDiscovery {
  const listeners = new Set<DiscoveryListener>();
  let last: { endpoints: readonly EndpointInfo[]; note?: string } | undefined;
  const stats: ScriptedDiscovery['stats'] = { created: 0, started: 0, refreshes: 0, closed: 0, options: [], targets: [] };
  const self: ScriptedDiscovery = {
    factory(target, options): DiscoverySource {
      stats.created++;
      stats.options.push(options);
      stats.targets.push(target);
      let mine: DiscoveryListener | undefined;
      return {
        start(listener) {
          stats.started++;
          mine = listener;
          listeners.add(listener);
          if (last) {
            const snap = last;
            setImmediate(() => mine && listener.onSnapshot({ endpoints: snap.endpoints, ...(snap.note ? { note: snap.note } : {}) }));
          }
        },
        refresh() {
          stats.refreshes++;
          if (self.onRefresh) self.onRefresh();
          else if (last && mine) mine.onSnapshot({ endpoints: last.endpoints });
        },
        close() {
          stats.closed++;
          if (mine) listeners.delete(mine);
          mine = undefined;
        },
      };
    },
    push(endpoints, note) {
      last = { endpoints, ...(note ? { note } : {}) };
      for (const l of listeners) l.onSnapshot({ endpoints, ...(note ? { note } : {}) });
    },
    fail(message, fatalForNow) {
      for (const l of listeners) l.onError({ message, fatalForNow });
    },
    onRefresh: undefined,
    stats,
  };
  return self;
}
