/**
 * When to send an HTTP/2 keepalive ping on one connection so that a frozen or partitioned server is found
 * soon, yet a server with default settings never closes the connection with GOAWAY `too_many_pings`.
 *
 * What the servers enforce by default (grpc-go, C-core, grpc-java alike): while they have sent nothing, a
 * ping that comes sooner than 5 minutes after the previous one (grpc-java: after the previous valid one, or
 * after the connection started) is a strike; the third strike closes the connection. Only a server WRITE
 * (headers or data) clears the strikes. So a client may ping early, but at most twice per stretch in which
 * the server writes nothing, and otherwise no more often than every 5 minutes.
 *
 * The schedule therefore pings after `quietMs` without anything received while calls are outstanding, as
 * long as fewer than `earlyPings` possibly-striking pings went out since the server last wrote; after that
 * only when a ping is surely allowed (`serverMinIntervalMs` after the previous ping and after the connection
 * started). It counts conservatively: a ping that may have crossed the server's write on the wire still
 * counts as a strike.
 *
 * Pure: time is an argument (ms on one monotonic clock); no timers.
 */
import { showValue } from './show-value.js';

/** Settings of a {@link PingSchedule}, ms. */
export interface PingScheduleOptions {
  /** Ping once nothing has been received for this long while calls are outstanding, ms (e.g. 10000). */
  readonly quietMs: number;
  /**
   * The servers' minimum interval between pings while they send nothing, plus slack for late timers, ms
   * (default-configured servers: 300000; e.g. 310000). Pings this far apart are never strikes.
   */
  readonly serverMinIntervalMs: number;
  /** Pings that may be strikes per stretch without a server write (default-configured servers allow 2). */
  readonly earlyPings: number;
  /**
   * Server activity seen within this long after a ping may be a write the ping reached the server after, ms:
   * that ping is then counted against the new stretch. Default: `quietMs`.
   */
  readonly crossingWindowMs?: number;
}

/** The ping schedule of one connection. */
export class PingSchedule {
  private readonly connectedAt: number;
  private lastPingAt = -Infinity;
  /** The ping before the last one (whether the last one was surely allowed depends on it). */
  private previousPingAt = -Infinity;
  private quietSince: number;
  /** Pings sent since the server's last write (as far as this side knows) that may have been strikes. */
  private early = 0;
  private active = false;

  constructor(
    private readonly options: PingScheduleOptions,
    now: number,
  ) {
    if (!(options.quietMs > 0) || !(options.serverMinIntervalMs > 0) || !(options.earlyPings >= 0)) {
      throw new RangeError(`PingSchedule: quietMs and serverMinIntervalMs must be > 0 and earlyPings >= 0, got ${showValue(options)}`);
    }
    this.connectedAt = now;
    this.quietSince = now;
  }

  /** Calls became outstanding (`true`) or none are left (`false`). Pings go out only while calls are outstanding. */
  setActive(active: boolean, now: number): void {
    if (active && !this.active) this.quietSince = Math.max(this.quietSince, now);
    this.active = active;
  }

  /** Something arrived from the server (headers, a message, a call's end): the server wrote, clearing its strikes. */
  serverWrote(now: number): void {
    this.quietSince = now;
    const crossing = this.options.crossingWindowMs ?? this.options.quietMs;
    // The last ping may have reached the server after this write and counted there as a strike.
    this.early = now - this.lastPingAt < crossing && !this.surelyAllowed(this.lastPingAt, this.previousPingAt) ? 1 : 0;
  }

  /** Whether a ping at `at`, following one at `before`, can never be a strike. */
  private surelyAllowed(at: number, before: number): boolean {
    return at - before >= this.options.serverMinIntervalMs && at - this.connectedAt >= this.options.serverMinIntervalMs;
  }

  /** When the next ping is due (ms on the caller's clock), or `Infinity` while no call is outstanding. */
  nextPingAt(): number {
    if (!this.active) return Infinity;
    const afterQuiet = Math.max(this.quietSince + this.options.quietMs, this.lastPingAt + this.options.quietMs);
    if (this.early < this.options.earlyPings) return afterQuiet;
    return Math.max(afterQuiet, this.lastPingAt + this.options.serverMinIntervalMs, this.connectedAt + this.options.serverMinIntervalMs);
  }

  /** A ping went out at `now`. */
  pingSent(now: number): void {
    if (!this.surelyAllowed(now, this.lastPingAt)) this.early += 1;
    this.previousPingAt = this.lastPingAt;
    this.lastPingAt = now;
  }

  /** For diagnostics and tests. */
  debugState(): { early: number; lastPingAt: number; quietSince: number; active: boolean } {
    return { early: this.early, lastPingAt: this.lastPingAt, quietSince: this.quietSince, active: this.active };
  }
}
