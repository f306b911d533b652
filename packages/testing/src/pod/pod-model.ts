/**
 * A pod with a capacity (see `shared/design/benchmarks.md`, "Why pods need a capacity").
 *
 * A backend that answers after an async sleep has unlimited capacity, so piling every call onto it costs nothing; this model serves
 * `slots` calls at once, queues the rest FIFO (optionally bounded), draws each call's service time from a
 * tailed distribution, and supports the events that make a real pod slow (a capacity cut, a periodic
 * stop-the-world pause, a cold start). It uses timers only and never burns CPU, so one 2-core machine can host
 * a faithful fleet. Time and randomness are injected so that tests drive it with a fake clock.
 *
 * How time is modelled: each call in a slot holds an amount of *work* (its drawn service time, in ms at full
 * capacity). Work drains at `capacityFactor` ms per ms of wall time, and not at all during a pause; whenever
 * the rate changes (a capacity cut, a pause starting or ending) every running call's remaining work is
 * settled and its end re-planned, so a cut also slows the calls already in service. The schedule is kept in
 * model time: a timer that fires late (a starved event loop on a busy machine) delays that reply but not the
 * next call's start, so the pod's capacity is what its options say, however busy the host.
 */
import * as hdr from 'hdr-histogram-js';

/** The timers the pod uses; real timers by default, a fake clock in tests. */
export interface PodTimers {
  /** Milliseconds on any monotonic scale. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** How long one call occupies a slot at full capacity. */
export type ServiceTimeDistribution =
  | { readonly kind: 'fixed'; readonly ms: number }
  | { readonly kind: 'exponential'; readonly meanMs: number }
  /** Uniform between `minMs` and `maxMs` (a light tail; what `@fairway/testing`'s echo backend's `serviceTimeMs` + `jitterMs` mean). */
  | { readonly kind: 'uniform'; readonly minMs: number; readonly maxMs: number }
  /** Log-normal with the given mean (ms) and shape `sigma` (the std. dev. of the underlying normal; 0.5 is a moderate tail). */
  | { readonly kind: 'lognormal'; readonly meanMs: number; readonly sigma: number };

export interface PodOptions {
  /** Calls served at once (the pod's "cores"): an integer >= 1, or `Infinity` for no limit (an async sleep). */
  readonly slots: number;
  /** Service time per call at full capacity. */
  readonly serviceTime: ServiceTimeDistribution;
  /** Calls that may wait; one more is refused (`PodOverloadedError`, answered as RESOURCE_EXHAUSTED). Default unbounded. */
  readonly queueBound?: number;
  /** The first `calls` calls take `factor` x their service time (JIT, cold caches). Default none. */
  readonly coldStart?: { readonly calls: number; readonly factor: number };
  /**
   * A stop-the-world pause of `pauseMs` every `everyMs` (a GC), the first one `everyMs` after creation: no call
   * progresses and no waiting call gets a slot while paused (`pauseMs` < `everyMs`). Default none.
   */
  readonly pause?: { readonly everyMs: number; readonly pauseMs: number };
  /**
   * Start in fail-fast mode (see `Pod.setFailing`): every call is refused with this failure without taking a
   * slot or a queue place. Default none (the pod serves).
   */
  readonly failing?: PodFailure;
  /** Uniform [0, 1) source; default `Math.random`. Pass a seeded one for reproducible runs. */
  readonly random?: () => number;
  /** Default: real timers (`performance.now`, `setTimeout`). */
  readonly timers?: PodTimers;
}

/**
 * Fail-fast mode: a pod whose dependency is gone (a database it cannot reach, a bad config) answers every call
 * with an error at once instead of serving it, so it looks *fast* to a latency-only balancer.
 */
export interface PodFailure {
  /** The gRPC status name backends answer with. */
  readonly code: 'UNAVAILABLE' | 'INTERNAL';
  /** How long a failing call takes before the error, ms (a timer; 0 = at once). Default 0. */
  readonly afterMs?: number;
}

/** What a served call reports. */
export interface PodServed {
  /** Time spent waiting for a slot, ms. */
  readonly queuedMs: number;
  /** Time spent in a slot (service time, stretched by a capacity cut or a pause), ms. */
  readonly serviceMs: number;
}

/** Live figures, so a table can say why a pod was slow. */
export interface PodStats {
  readonly served: number;
  /** Calls refused because the queue was full (`PodOverloadedError`). */
  readonly rejected: number;
  /** Calls answered with an error in fail-fast mode (`PodFailingError`). */
  readonly failed: number;
  /** Calls whose signal aborted them while waiting or in service. */
  readonly aborted: number;
  /** Calls in a slot now. */
  readonly inService: number;
  /** Calls waiting now. */
  readonly queueLength: number;
  /** The most calls that waited at once since the last reset. */
  readonly maxQueueLength: number;
  /**
   * Occupied slot-time / (slots x elapsed) since the last `resetStats()` (or creation), 0..1; a slot held
   * through a pause counts as occupied. Always 0 with unlimited slots.
   */
  readonly utilization: number;
  /** Queueing delay of calls that got a slot since the last reset, ms. */
  readonly queueDelayMs: { readonly mean: number; readonly p50: number; readonly p99: number; readonly max: number };
  /** Calls per second the pod can serve now: slots / mean service time x capacity factor (`Infinity` if unlimited). */
  readonly capacityPerSec: number;
  /** The current capacity factor (1 = full). */
  readonly capacityFactor: number;
  /** Whether a stop-the-world pause is on now. */
  readonly paused: boolean;
  /** ms since the last `resetStats()` (or creation): the window the figures above cover. */
  readonly windowMs: number;
}

/** Per-call options of `Pod.serve`. */
export interface PodServeOptions {
  /** Aborts a waiting or running call (a cancelled gRPC call): it frees its queue place or slot. */
  readonly signal?: AbortSignal;
  /** Work added to this call's drawn service time, ms at full capacity (e.g. a request asking to be slow). Default 0. */
  readonly extraServiceMs?: number;
}

export interface Pod {
  /**
   * Admits one call: resolves when it has been served (queueing plus service time); rejects with
   * `PodOverloadedError` at once when the queue is full. `signal` aborts a waiting or running call (a
   * cancelled gRPC call frees its slot or its queue place).
   */
  serve(signal?: AbortSignal, options?: Omit<PodServeOptions, 'signal'>): Promise<PodServed>;
  /** A noisy neighbour: the pod keeps `factor` (0 < factor <= 1) of its CPU, so service times stretch by 1/factor. */
  setCapacityFactor(factor: number): void;
  /**
   * Fail-fast mode on (`failure`) or off (`undefined`): while on, every new call is rejected with
   * `PodFailingError` after `failure.afterMs` without taking a slot or a queue place; calls already admitted
   * are served as usual.
   */
  setFailing(failure: PodFailure | undefined): void;
  /** Changes the service-time distribution of calls that get a slot from now on. */
  setServiceTime(serviceTime: ServiceTimeDistribution): void;
  stats(): PodStats;
  resetStats(): void;
  /** Stops the pause timer (ending a pause in progress); waiting calls are rejected (`PodStoppedError`), later ones too; calls in service finish. */
  stop(): void;
}

/** Thrown by `serve` when the queue bound is reached; backends answer it with RESOURCE_EXHAUSTED. */
export class PodOverloadedError extends Error {
  constructor(readonly queueBound: number) {
    super(`pod overloaded: ${queueBound} calls already waiting (queue bound)`);
    this.name = 'PodOverloadedError';
  }
}

/** Thrown by `serve` in fail-fast mode (`Pod.setFailing`); backends answer it with `code`. */
export class PodFailingError extends Error {
  constructor(readonly code: PodFailure['code']) {
    super(`pod failing fast: answers ${code} without serving (fail-fast mode)`);
    this.name = 'PodFailingError';
  }
}

/** Thrown by `serve` for calls waiting when the pod stops, and for calls made after. */
export class PodStoppedError extends Error {
  constructor() {
    super('pod stopped: it takes no more calls');
    this.name = 'PodStoppedError';
  }
}

/** Mean of a service-time distribution, ms. */
export function meanServiceTimeMs(d: ServiceTimeDistribution): number {
  switch (d.kind) {
    case 'fixed':
      return d.ms;
    case 'uniform':
      return (d.minMs + d.maxMs) / 2;
    default:
      return d.meanMs;
  }
}

const realTimers: PodTimers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

function checkServiceTime(d: ServiceTimeDistribution, where: string): void {
  const bad = (why: string): never => {
    throw new RangeError(`${where}: ${why}, got ${JSON.stringify(d)}`);
  };
  const nonNegative = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  if (d === null || typeof d !== 'object') bad('expected { kind: fixed | uniform | exponential | lognormal, ... }');
  switch (d.kind) {
    case 'fixed':
      if (!nonNegative(d.ms)) bad('fixed service time needs ms, a finite number >= 0');
      return;
    case 'uniform':
      if (!nonNegative(d.minMs) || !nonNegative(d.maxMs) || d.maxMs < d.minMs) bad('uniform service time needs 0 <= minMs <= maxMs (finite)');
      return;
    case 'exponential':
      if (!nonNegative(d.meanMs) || d.meanMs === 0) bad('exponential service time needs meanMs, a finite number > 0');
      return;
    case 'lognormal':
      if (!nonNegative(d.meanMs) || d.meanMs === 0) bad('lognormal service time needs meanMs, a finite number > 0');
      if (!nonNegative(d.sigma) || d.sigma > 5) bad('lognormal service time needs sigma between 0 and 5');
      return;
    default:
      bad('unknown kind (expected fixed, uniform, exponential or lognormal)');
  }
}

function checkFactor(factor: number, where: string): void {
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor <= 0 || factor > 1) {
    throw new RangeError(`${where}: capacity factor must be a number with 0 < factor <= 1, got ${factor}`);
  }
}

function checkFailure(f: PodFailure | undefined, where: string): void {
  if (f === undefined) return;
  if (f === null || typeof f !== 'object' || (f.code !== 'UNAVAILABLE' && f.code !== 'INTERNAL')) {
    throw new RangeError(`${where}: expected { code: 'UNAVAILABLE' | 'INTERNAL', afterMs? }, got ${JSON.stringify(f)}`);
  }
  if (f.afterMs !== undefined && !(typeof f.afterMs === 'number' && Number.isFinite(f.afterMs) && f.afterMs >= 0)) {
    throw new RangeError(`${where}: afterMs must be a finite number >= 0, got ${String(f.afterMs)}`);
  }
}

function checkOptions(o: PodOptions): void {
  if (o === null || typeof o !== 'object') throw new TypeError(`createPod: options must be an object, got ${String(o)}`);
  if (!(o.slots === Infinity || (Number.isInteger(o.slots) && o.slots >= 1))) {
    throw new RangeError(`createPod: slots must be an integer >= 1 or Infinity, got ${String(o.slots)}`);
  }
  checkServiceTime(o.serviceTime, 'createPod: serviceTime');
  if (o.queueBound !== undefined && !(Number.isInteger(o.queueBound) && o.queueBound >= 0)) {
    throw new RangeError(`createPod: queueBound must be an integer >= 0, got ${String(o.queueBound)}`);
  }
  if (o.coldStart !== undefined) {
    const { calls, factor } = o.coldStart;
    if (!(Number.isInteger(calls) && calls >= 0) || !(typeof factor === 'number' && Number.isFinite(factor) && factor > 0)) {
      throw new RangeError(`createPod: coldStart needs calls (an integer >= 0) and factor (a finite number > 0), got ${JSON.stringify(o.coldStart)}`);
    }
  }
  if (o.pause !== undefined) {
    const { everyMs, pauseMs } = o.pause;
    if (!(Number.isFinite(everyMs) && Number.isFinite(pauseMs) && pauseMs > 0 && everyMs > pauseMs)) {
      throw new RangeError(`createPod: pause needs 0 < pauseMs < everyMs (finite), got ${JSON.stringify(o.pause)}`);
    }
  }
  checkFailure(o.failing, 'createPod: failing');
  if (o.random !== undefined && typeof o.random !== 'function') throw new TypeError('createPod: random must be a function returning [0, 1)');
}

interface Call {
  readonly arrivedAt: number;
  readonly extraMs: number;
  readonly resolve: (served: PodServed) => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  startedAt: number;
  queuedMs: number;
  /** Work left, ms at full capacity. */
  remaining: number;
  /** When `remaining` was last settled. */
  settledAt: number;
  /** When its work runs out at the current rate (valid while a timer is set). */
  plannedEnd: number;
  timer: unknown;
}

/**
 * Creates a pod with a capacity (see `PodOptions`). Bad options throw a `RangeError`/`TypeError` naming the field.
 *
 * @example
 * const pod = createPod({ slots: 2, serviceTime: { kind: 'lognormal', meanMs: 20, sigma: 0.5 } });
 * const { queuedMs } = await pod.serve(abortSignal); // resolves after queueing + service
 */
export function createPod(options: PodOptions): Pod {
  checkOptions(options);
  const timers = options.timers ?? realTimers;
  const random = options.random ?? Math.random;
  const slots = options.slots;
  const queueBound = options.queueBound ?? Infinity;
  let serviceTime = options.serviceTime;
  let factor = 1;
  let paused = false;
  let stopped = false;
  let pauseTimer: unknown;
  let slotGrants = 0;
  let failing: PodFailure | undefined = options.failing;

  const queue: Call[] = [];
  const running = new Set<Call>();

  // Statistics window.
  let windowStart = timers.now();
  /** Occupied slot-time of calls that left a slot in this window. */
  let busySlotMs = 0;
  let served = 0;
  let rejected = 0;
  let failed = 0;
  let aborted = 0;
  let delaySumMs = 0;
  let delayMaxMs = 0;
  let maxQueue = 0;
  // Queueing delays in microseconds: bounded memory however long the run (3 significant digits).
  const delays = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });

  const draw = (): number => {
    const d = serviceTime;
    switch (d.kind) {
      case 'fixed':
        return d.ms;
      case 'uniform':
        return d.minMs + random() * (d.maxMs - d.minMs);
      case 'exponential':
        return -d.meanMs * Math.log(1 - random());
      case 'lognormal': {
        // Box-Muller; mu chosen so that the mean is meanMs.
        const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
        return Math.exp(Math.log(d.meanMs) - (d.sigma * d.sigma) / 2 + d.sigma * z);
      }
    }
  };

  /** Slot-time `c` occupied in this window, up to `until`. */
  const occupied = (c: Call, until: number) => Math.max(0, until - Math.max(c.startedAt, windowStart));
  /** Drains each running call's work up to `now` at the current rate. */
  const settle = (now: number) => {
    for (const c of running) {
      if (!paused) c.remaining = Math.max(0, c.remaining - (now - c.settledAt) * factor);
      c.settledAt = now;
    }
  };
  const plan = (c: Call) => {
    if (c.timer !== undefined) timers.clearTimeout(c.timer);
    c.timer = undefined;
    if (paused) return;
    c.plannedEnd = c.settledAt + c.remaining / factor;
    c.timer = timers.setTimeout(() => complete(c), Math.max(0, c.plannedEnd - timers.now()));
  };
  const detach = (c: Call) => {
    if (c.onAbort) c.signal?.removeEventListener('abort', c.onAbort);
    c.onAbort = undefined;
  };

  /**
   * A call's timer fired. A timer that fired late (a busy event loop) does not cost the pod capacity: the slot
   * counts as freed at the planned end, and the next waiting call's service starts then. Only the reply is late.
   */
  function complete(c: Call): void {
    c.timer = undefined;
    finish(c, Math.min(timers.now(), c.plannedEnd));
    fill(c.plannedEnd);
  }

  /** Ends `c`'s service at `end` (model time) and resolves its promise. */
  function finish(c: Call, end: number): void {
    busySlotMs += occupied(c, end);
    running.delete(c);
    detach(c);
    served += 1;
    c.resolve({ queuedMs: c.queuedMs, serviceMs: end - c.startedAt });
  }

  /** Gives `c` the slot freed at `at` (or at its arrival, if later) and draws its work (the caller plans its end). */
  function start(c: Call, at: number): void {
    c.startedAt = Math.max(at, c.arrivedAt);
    c.queuedMs = c.startedAt - c.arrivedAt;
    delaySumMs += c.queuedMs;
    delayMaxMs = Math.max(delayMaxMs, c.queuedMs);
    delays.recordValue(Math.round(c.queuedMs * 1000));
    slotGrants += 1;
    const cold = options.coldStart && slotGrants <= options.coldStart.calls ? options.coldStart.factor : 1;
    c.remaining = draw() * cold + c.extraMs;
    c.settledAt = c.startedAt;
    running.add(c);
  }

  /**
   * Moves waiting calls into slots freed at `at` (default now), FIFO. A call whose work ends by now in model
   * time (the host was too busy to run the timers in between) ends here, without a timer, and frees its slot
   * for the next one at its end: a starved event loop that turns slowly still gets through the queue at the
   * pod's capacity instead of one call per slot per turn.
   */
  function fill(at: number = timers.now()): void {
    if (paused) return;
    const now = timers.now();
    /** Started calls already over in model time, by end. */
    const due: Call[] = [];
    let freedAt = at;
    for (;;) {
      while (running.size < slots && queue.length > 0) {
        const c = queue.shift()!;
        start(c, freedAt);
        c.plannedEnd = c.startedAt + c.remaining / factor;
        if (c.plannedEnd <= now) {
          let i = due.length;
          while (i > 0 && due[i - 1]!.plannedEnd > c.plannedEnd) i -= 1;
          due.splice(i, 0, c);
        } else plan(c);
      }
      const next = due.shift();
      if (!next) return;
      finish(next, next.plannedEnd);
      freedAt = next.plannedEnd;
    }
  }

  function beginPause(): void {
    const now = timers.now();
    settle(now);
    paused = true;
    for (const c of running) plan(c);
    pauseTimer = schedule(endPause, options.pause!.pauseMs);
  }
  function endPause(): void {
    const now = timers.now();
    settle(now);
    paused = false;
    for (const c of running) plan(c);
    fill();
    pauseTimer = stopped ? undefined : schedule(beginPause, options.pause!.everyMs - options.pause!.pauseMs);
  }
  const schedule = (fn: () => void, ms: number): unknown => {
    const h = timers.setTimeout(fn, ms);
    // A real pause timer must not keep the process alive on its own.
    (h as { unref?: () => void } | undefined)?.unref?.();
    return h;
  };
  if (options.pause) pauseTimer = schedule(beginPause, options.pause.everyMs);

  return {
    serve(signal?: AbortSignal, serveOptions?: Omit<PodServeOptions, 'signal'>): Promise<PodServed> {
      const extraMs = serveOptions?.extraServiceMs ?? 0;
      if (!(Number.isFinite(extraMs) && extraMs >= 0)) {
        return Promise.reject(new RangeError(`Pod.serve: extraServiceMs must be a finite number >= 0, got ${extraMs}`));
      }
      if (stopped) return Promise.reject(new PodStoppedError());
      if (signal?.aborted) {
        aborted += 1;
        return Promise.reject(signal.reason);
      }
      if (failing) {
        failed += 1;
        const { code, afterMs = 0 } = failing;
        if (afterMs === 0) return Promise.reject(new PodFailingError(code));
        return new Promise<PodServed>((_resolve, reject) => {
          timers.setTimeout(() => reject(new PodFailingError(code)), afterMs);
        });
      }
      const now = timers.now();
      const mustWait = paused || running.size >= slots || queue.length > 0;
      if (mustWait && queue.length >= queueBound) {
        rejected += 1;
        return Promise.reject(new PodOverloadedError(queueBound));
      }
      return new Promise<PodServed>((resolve, reject) => {
        const c: Call = {
          arrivedAt: now,
          extraMs,
          resolve,
          reject,
          signal,
          onAbort: undefined,
          startedAt: 0,
          queuedMs: 0,
          remaining: 0,
          settledAt: now,
          plannedEnd: now,
          timer: undefined,
        };
        if (signal) {
          c.onAbort = () => {
            c.onAbort = undefined;
            const at = timers.now();
            const waiting = queue.indexOf(c);
            if (waiting >= 0) queue.splice(waiting, 1);
            else if (running.has(c)) {
              busySlotMs += occupied(c, at);
              running.delete(c);
              if (c.timer !== undefined) timers.clearTimeout(c.timer);
              c.timer = undefined;
            } else return;
            aborted += 1;
            reject(signal.reason);
            fill();
          };
          signal.addEventListener('abort', c.onAbort, { once: true });
        }
        queue.push(c);
        if (!mustWait) fill(now);
        else if (queue.length > maxQueue) maxQueue = queue.length;
      });
    },
    setCapacityFactor(next: number): void {
      checkFactor(next, 'Pod.setCapacityFactor');
      settle(timers.now());
      factor = next;
      if (!paused) for (const c of running) plan(c);
    },
    setFailing(next: PodFailure | undefined): void {
      checkFailure(next, 'Pod.setFailing');
      failing = next === undefined ? undefined : { ...next };
    },
    setServiceTime(next: ServiceTimeDistribution): void {
      checkServiceTime(next, 'Pod.setServiceTime');
      serviceTime = next;
    },
    stats(): PodStats {
      const now = timers.now();
      let busy = busySlotMs;
      // A call whose end is due but whose timer has not fired yet (a busy event loop) was busy until its end.
      for (const c of running) busy += occupied(c, c.timer !== undefined ? Math.min(now, c.plannedEnd) : now);
      const windowMs = now - windowStart;
      const count = delays.totalCount;
      return {
        served,
        rejected,
        failed,
        aborted,
        inService: running.size,
        queueLength: queue.length,
        maxQueueLength: maxQueue,
        utilization: Number.isFinite(slots) && windowMs > 0 ? Math.min(1, busy / (slots * windowMs)) : 0,
        queueDelayMs: {
          mean: count > 0 ? delaySumMs / count : 0,
          p50: count > 0 ? Math.min(delayMaxMs, delays.getValueAtPercentile(50) / 1000) : 0,
          p99: count > 0 ? Math.min(delayMaxMs, delays.getValueAtPercentile(99) / 1000) : 0,
          max: delayMaxMs,
        },
        capacityPerSec: meanServiceTimeMs(serviceTime) > 0 ? (slots / meanServiceTimeMs(serviceTime)) * 1000 * factor : Infinity,
        capacityFactor: factor,
        paused,
        windowMs,
      };
    },
    resetStats(): void {
      const now = timers.now();
      windowStart = now;
      busySlotMs = 0;
      served = 0;
      rejected = 0;
      failed = 0;
      aborted = 0;
      delaySumMs = 0;
      delayMaxMs = 0;
      maxQueue = queue.length;
      delays.reset();
    },
    stop(): void {
      if (stopped) return;
      stopped = true;
      if (pauseTimer !== undefined) timers.clearTimeout(pauseTimer);
      pauseTimer = undefined;
      for (const c of queue.splice(0)) {
        detach(c);
        c.reject(new PodStoppedError());
      }
      // Calls in service finish (a graceful stop drains them).
      if (paused) endPause();
    },
  };
}
