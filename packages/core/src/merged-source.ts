/**
 * `multi:///<target>;<target>`: several discovery sources merged into one endpoint set, e.g. two regions' etcd
 * clusters (`multi:///etcd://10.1.0.1:2379/pricer;etcd://10.2.0.1:2379/pricer`) or an etcd and a Kubernetes
 * source during a migration.
 *
 * Each part keeps its own last good set: the merged set is the union of every part's latest snapshot, so a part
 * whose back end is down (its etcd killed with its region) goes on contributing what it last knew, marked stale,
 * while the others stay current. An error from one part is never fatal while another part has delivered a set;
 * only when no part has anything does the channel see a fatal error (naming every part's problem). Two parts
 * reporting the same instance are sorted out by the balancer's newest-incarnation rule.
 */
import { parseMultiTarget } from './target.js';
import type { DiscoveryListener, DiscoverySource, DiscoverySourceFactory, EndpointSnapshot, ParsedTarget } from './contracts.js';

/** Makes the `multi` source; `factoryFor(scheme)` finds each part's registered source, `optionsFor(scheme)` its options. */
export function createMergedSourceFactory(
  factoryFor: (scheme: string) => DiscoverySourceFactory | undefined,
  optionsFor: (all: unknown, scheme: string) => unknown,
): DiscoverySourceFactory {
  return (target: ParsedTarget, allOptions: unknown): DiscoverySource => {
    const parts = parseMultiTarget(target).map((sub) => {
      const factory = factoryFor(sub.scheme);
      if (factory === undefined) throw new Error(`${target.raw}: no discovery source is registered for scheme "${sub.scheme}" (part ${sub.raw})`);
      return { sub, source: factory(sub, optionsFor(allOptions, sub.scheme)) };
    });
    const latest: Array<EndpointSnapshot | undefined> = parts.map(() => undefined);
    const problems: Array<string | undefined> = parts.map(() => undefined);
    let listener: DiscoveryListener | undefined;

    const deliver = (): void => {
      if (listener === undefined) return;
      const have = latest.filter((s): s is EndpointSnapshot => s !== undefined);
      if (have.length === 0) return;
      const stale = have.some((s) => s.stale === true) || problems.some((p) => p !== undefined);
      const notes = parts.map((p, i) => `${p.sub.raw}: ${problems[i] ?? latest[i]?.note ?? (latest[i] ? `${latest[i]!.endpoints.length} endpoint(s)` : 'no set yet')}`);
      const peers = have.find((s) => s.peers !== undefined)?.peers;
      listener.onSnapshot({
        endpoints: have.flatMap((s) => s.endpoints),
        ...(stale ? { stale: true } : {}),
        note: notes.join('; '),
        ...(peers !== undefined ? { peers } : {}),
      });
    };

    return {
      start(l) {
        listener = l;
        parts.forEach((p, i) =>
          p.source.start({
            onSnapshot: (s) => {
              latest[i] = s;
              problems[i] = undefined;
              deliver();
            },
            onError: (e) => {
              problems[i] = e.message;
              if (latest.some((s) => s !== undefined)) {
                // Another part (or this one's last good set) still serves: keep going, say why.
                l.onError({ message: `${target.raw}: part ${p.sub.raw}: ${e.message}`, fatalForNow: false, cause: e.cause });
                deliver();
              } else if (problems.every((x) => x !== undefined)) {
                l.onError({ message: `${target.raw}: no part has endpoints: ${parts.map((q, j) => `${q.sub.raw}: ${problems[j]}`).join('; ')}`, fatalForNow: true });
              }
            },
          }),
        );
      },
      refresh() {
        for (const p of parts) p.source.refresh?.();
      },
      async close() {
        await Promise.allSettled(parts.map((p) => p.source.close()));
      },
    };
  };
}

/**
 * The schemes of Fairway's own discovery sources (etcd, Kubernetes; `k8s` and `kubernetes` are one), which are
 * also the keys of their options under `discovery`. They take a `logger` (info, warn, error) and log at `error`
 * each failure they hand to their listener, so whoever receives it need not log it again.
 */
export const SELF_LOGGING_SOURCE_SCHEMES: ReadonlySet<string> = new Set(['etcd', 'kubernetes', 'k8s']);

/**
 * A `multi` target's discovery options with `logger` for the parts of Fairway's own sources (etcd, Kubernetes)
 * whose options name none. The caller passes its logger without `error`: the multi source hands on each part's
 * failure with the part named, which the caller logs, so a part that logged it too said it twice (and to stderr
 * whatever logger the caller had). `all` is not changed.
 */
export function withMultiPartLogger(all: unknown, logger: { info(m: string): void; warn(m: string): void; error(m: string): void }): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(all as Record<string, unknown> | undefined) };
  for (const key of SELF_LOGGING_SOURCE_SCHEMES) {
    const own = out[key];
    if (key === 'k8s' && own === undefined) continue; // the alias only where it is used
    if (own === undefined) out[key] = { logger };
    else if (typeof own === 'object' && own !== null && (own as { logger?: unknown }).logger === undefined) out[key] = { ...own, logger };
  }
  return out;
}
