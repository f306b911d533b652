/**
 * Span and metric attribute names Fairway records. The `rpc.*`, `server.*` names follow the OpenTelemetry RPC
 * semantic conventions; the `fairway.*` names are Fairway's own (see the README's "See it in Jaeger" table).
 *
 * Nothing here ever carries a metadata value, a credential or a message body.
 */

/** Attribute names on call and attempt spans and on metric data points. */
export const FairwayAttributes = {
  /** `grpc` (RPC semantic conventions). */
  RPC_SYSTEM: 'rpc.system',
  /** Full service name, e.g. `trading.Pricer`. */
  RPC_SERVICE: 'rpc.service',
  /** Method name, e.g. `Quote`. */
  RPC_METHOD: 'rpc.method',
  /** Numeric gRPC status code (0 = OK). */
  RPC_GRPC_STATUS_CODE: 'rpc.grpc.status_code',
  /** Host of the endpoint an attempt went to (attempt spans; the call span has the last attempt's). */
  SERVER_ADDRESS: 'server.address',
  /** Port of the endpoint an attempt went to. */
  SERVER_PORT: 'server.port',
  /** The channel's target URI with any user-info removed, e.g. `etcd:///pricer`. */
  TARGET: 'fairway.target',
  /** Number of attempts the call made (call span). */
  ATTEMPTS: 'fairway.attempts',
  /** 1-based number of this attempt (attempt span). */
  ATTEMPT: 'fairway.attempt',
  /** `true` when Fairway's own attempt timer fired for this attempt. */
  ATTEMPT_TIMED_OUT: 'fairway.attempt.timed_out',
  /** `host:port` of the endpoint the picker chose. */
  ENDPOINT_ADDRESS: 'fairway.endpoint.address',
  /** Zone of the chosen endpoint (absent when discovery does not know it). */
  ENDPOINT_ZONE: 'fairway.endpoint.zone',
  /** Instance (pod/process name) of the chosen endpoint. */
  ENDPOINT_INSTANCE: 'fairway.endpoint.instance',
  /** Incarnation (start id / Pod uid) of the chosen endpoint. */
  ENDPOINT_INCARNATION: 'fairway.endpoint.incarnation',
  /** The caller's own zone. */
  CLIENT_ZONE: 'fairway.client.zone',
  /** `local` | `spill` | `all`: which zones the picker drew from. */
  ZONE_MODE: 'fairway.zone.mode',
  /** `true` when the endpoint's zone differs from the caller's (both known). */
  CROSS_ZONE: 'fairway.cross_zone',
  /** Why this endpoint: both candidates with their costs, or why there was only one. */
  PICK_REASON: 'fairway.pick.reason',
  /** How many times the picker was asked for this attempt (more than 1 when grpc-js re-picked). */
  PICK_COUNT: 'fairway.pick.count',
  /** On an attempt that was retried: why (e.g. `attempt timed out after 200ms; retrying on another endpoint`). */
  RETRY_REASON: 'fairway.retry.reason',
  /** On an attempt whose retry was wanted but refused: why (e.g. `retry budget exhausted`). */
  RETRY_REFUSED: 'fairway.retry.refused',
  /** Why the attempt was started: `first`, `retry` (a timed-out attempt), `repick` (one that never reached a server), `hedge`. */
  ATTEMPT_REASON: 'fairway.attempt.reason',
  /** On an attempt that never reached a server and was re-picked on another endpoint: why. */
  REPICK_REASON: 'fairway.repick.reason',
  /** Why an endpoint was ejected: `consecutive-failures`, `success-rate` or `latency` (on ejection events and metrics). */
  EJECTION_REASON: 'fairway.ejection.reason',
  /** How long an ejection lasts, ms (on `fairway.ejected` events). */
  EJECTION_DURATION_MS: 'fairway.ejection.duration_ms',
  /** Ejections of the endpoint in a row so far (on ejection events). */
  EJECTIONS_IN_A_ROW: 'fairway.ejection.count',
  /** What happened and why, in words (on ejection events), e.g. `10.0.0.7:8080 ejected for 10000 ms (ejection 1 in a row): 5 failures or timeouts in a row`. */
  EJECTION_DETAIL: 'fairway.ejection.detail',
  /**
   * Revision of the live configuration document in use when the call started (e.g. the etcd revision of
   * `_fairway_config/<service>`), on call and attempt spans; absent when the channel has none.
   */
  CONFIG_REVISION: 'fairway.config.revision',
  /** With canary routing: `canary` or `stable`, the chosen endpoint's group (attempt span). */
  CANARY_GROUP: 'fairway.canary.group',
  /** On the `fairway.canary.halted` event: why the canary was halted. */
  CANARY_HALT_REASON: 'fairway.canary.halt.reason',
} as const;

/** Names of the span events Fairway adds (to attempt spans). */
export const FairwayEvents = {
  /** A hedge attempt started (no answer after the hedge delay); attribute `fairway.hedge.detail`. */
  HEDGED: 'fairway.hedged',
  /** The attempt never reached a server and the call was re-picked at once; attribute `fairway.repick.reason`. */
  REPICKED: 'fairway.repicked',
  /**
   * The attempt's endpoint was ejected (outlier ejection) while the attempt was open, typically by this
   * attempt's own failure or timeout; on the call span when none of its attempts on that endpoint is open any
   * more. Attributes `fairway.endpoint.address`, `fairway.ejection.reason`, `.duration_ms`, `.count`, `.detail`.
   */
  EJECTED: 'fairway.ejected',
  /** The attempt was the re-admission probe that answered and brought its endpoint back; same attributes (reason: the ejection that ended). */
  READMITTED: 'fairway.readmitted',
  /** The canary was halted automatically (on the first attempt picked after it); attribute `fairway.canary.halt.reason`. */
  CANARY_HALTED: 'fairway.canary.halted',
} as const;

/** Names of the metric instruments Fairway records (OpenTelemetry metrics API). */
export const FairwayMetrics = {
  /** Counter: calls that ended, by method, status and client zone. */
  CALLS: 'fairway.client.calls',
  /** Counter: attempts that ended, by method, status, endpoint address and zone, client zone. */
  ATTEMPTS: 'fairway.client.attempts',
  /** Counter: attempts that were followed by a retry, by method, endpoint address and zone. */
  RETRIES: 'fairway.client.retries',
  /** Counter: retries that were wanted but refused (retry budget, attempt cap, deadline), by method. */
  RETRY_REFUSALS: 'fairway.client.retry_refusals',
  /** Histogram (ms): call latency, first attempt start to final status, by method and status. */
  CALL_DURATION: 'fairway.client.call.duration',
  /** Histogram (ms): attempt latency, by method, status, endpoint address and zone. */
  ATTEMPT_DURATION: 'fairway.client.attempt.duration',
  /** Counter: attempts sent to an endpoint in another zone than the caller's (both zones known). */
  CROSS_ZONE_ATTEMPTS: 'fairway.client.cross_zone_attempts',
  /** Counter: hedge attempts started (no answer after the hedge delay), by method. */
  HEDGES: 'fairway.client.hedges',
  /** Counter: attempts that never reached a server and were re-picked on another endpoint, by method, endpoint address and zone. */
  REPICKS: 'fairway.client.repicks',
  /** Counter: endpoints ejected (outlier ejection), by reason and endpoint address. */
  EJECTED: 'fairway.client.ejected',
  /** Counter: ejected endpoints re-admitted by a probe that answered, by the reason of the ejection that ended and endpoint address. */
  READMITTED: 'fairway.client.readmitted',
  /** Counter: automatic canary halts, by method of the attempt that reported it. */
  CANARY_HALTS: 'fairway.client.canary_halts',
} as const;

/** Splits `/pkg.Service/Method` into its parts; tolerates a missing leading slash or a bare name. */
export function splitMethod(method: string): { service: string; method: string; spanName: string } {
  const trimmed = method.startsWith('/') ? method.slice(1) : method;
  const slash = trimmed.lastIndexOf('/');
  if (slash <= 0) return { service: '', method: trimmed || 'unknown', spanName: trimmed || 'unknown' };
  const service = trimmed.slice(0, slash);
  const name = trimmed.slice(slash + 1) || 'unknown';
  return { service, method: name, spanName: `${service}/${name}` };
}

/** Splits `host:port` / `[v6]:port` into host and port; port is undefined when absent or not a number. */
export function splitAddress(input: string): { host: string; port?: number } {
  const address = String(input ?? '');
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (v6) return v6[2] ? { host: v6[1]!, port: Number(v6[2]) } : { host: v6[1]! };
  const colon = address.lastIndexOf(':');
  if (colon > 0 && address.indexOf(':') === colon && /^\d+$/.test(address.slice(colon + 1))) {
    return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
  }
  return { host: address };
}

/**
 * The target with any `user:password@` in the authority removed, so a credential written into a target URI
 * is never recorded.
 */
export function redactTarget(target: string): string {
  const m = /^([a-zA-Z][\w+.-]*:\/\/)([^/]*)(.*)$/.exec(target);
  if (!m) return target;
  const authority = m[2]!;
  const at = authority.lastIndexOf('@');
  return at >= 0 ? `${m[1]}${authority.slice(at + 1)}${m[3]}` : target;
}
