/**
 * Fairway's keepalive: HTTP/2 pings on each connection of a Fairway channel, scheduled by `PingSchedule`
 * (`@fairway/core`) instead of grpc-js's fixed interval. grpc-js pings every `keepalive_time_ms` while a call
 * is outstanding whether or not the server writes, and servers with default settings (grpc-go, C-core,
 * grpc-java) close the connection with GOAWAY `too_many_pings` at the third ping within 5 minutes of silence.
 * Here a connection is pinged after `timeMs` without anything received while calls wait on it, at most twice
 * per stretch in which the server writes nothing, and otherwise no more often than `serverMinIntervalMs`.
 * A ping unanswered within `timeoutMs` drops the connection as grpc-js's own keepalive would (its calls end
 * UNAVAILABLE), so a frozen or partitioned server is found within `timeMs + timeoutMs` of a call starting to
 * wait on it, and within `serverMinIntervalMs + timeoutMs` in the worst case (a stream that has been silent
 * for long before the server froze).
 *
 * One pinger per connection (grpc-js shares connections between channels with equal subchannel options), all
 * driven by one unref'd interval while any exists.
 */
import { PingSchedule } from '@fairway/core';
import { liveConnectionOf, type LiveConnection } from './grpc-internals.js';
import { nowMs, startInterval, startTimer, type TimerHandle } from './clock.js';
import type { Logger } from './logger.js';

/** Resolved keepalive settings, ms. */
export interface KeepaliveSettings {
  readonly timeMs: number;
  readonly timeoutMs: number;
  readonly serverMinIntervalMs: number;
}

/** Pings that may be strikes per stretch without a server write: default-configured servers allow 2. */
export const EARLY_PINGS = 2;
/** How often the pingers look at their connections, ms. */
const TICK_MS = 500;

class ConnectionPinger {
  private readonly schedule: PingSchedule;
  private writesSeen: number;
  private timeout: TimerHandle | undefined;
  stopped = false;

  constructor(
    private readonly conn: LiveConnection,
    private readonly settings: KeepaliveSettings,
    private readonly logger: Logger,
    private readonly address: string,
  ) {
    const now = nowMs();
    this.schedule = new PingSchedule({ quietMs: settings.timeMs, serverMinIntervalMs: settings.serverMinIntervalMs, earlyPings: EARLY_PINGS }, now);
    this.writesSeen = conn.serverWrites();
  }

  tick(now: number): void {
    if (this.conn.closed) return this.stop();
    this.schedule.setActive(this.conn.activeCalls() > 0, now);
    const writes = this.conn.serverWrites();
    if (writes !== this.writesSeen) {
      this.writesSeen = writes;
      this.schedule.serverWrote(now);
    }
    if (this.timeout || now < this.schedule.nextPingAt()) return;
    this.schedule.pingSent(now);
    const timeout = startTimer(this.settings.timeoutMs, () => {
      if (this.timeout !== timeout || this.stopped) return;
      this.timeout = undefined;
      this.logger.warn(`keepalive: ${this.address} did not answer a ping within ${this.settings.timeoutMs} ms; dropping the connection`);
      this.stop();
      this.conn.disconnect();
    });
    this.timeout = timeout;
    const sent = this.conn.ping(() => {
      if (this.timeout === timeout) {
        timeout.cancel();
        this.timeout = undefined;
      }
    });
    if (!sent) {
      timeout.cancel();
      this.timeout = undefined;
    }
  }

  stop(): void {
    this.stopped = true;
    this.timeout?.cancel();
    this.timeout = undefined;
    pingers.delete(this);
    byConnection.delete(this.conn.key);
    if (pingers.size === 0) {
      ticker?.cancel();
      ticker = undefined;
    }
  }
}

const pingers = new Set<ConnectionPinger>();
const byConnection = new WeakMap<object, ConnectionPinger>();
let ticker: TimerHandle | undefined;

function tickAll(): void {
  const now = nowMs();
  for (const p of [...pingers]) p.tick(now);
}

/**
 * Starts pinging `subchannel`'s connection (if it has one now and no pinger yet). Call it whenever the
 * subchannel becomes READY. Returns false when grpc-js's internals do not have the expected shape.
 */
export function watchConnection(
  subchannel: { getRealSubchannel(): unknown },
  settings: KeepaliveSettings,
  logger: Logger,
  address: string,
): boolean {
  const conn = liveConnectionOf(subchannel);
  if (!conn) return false;
  if (byConnection.has(conn.key) || conn.closed) return true;
  const pinger = new ConnectionPinger(conn, settings, logger, address);
  byConnection.set(conn.key, pinger);
  pingers.add(pinger);
  ticker ??= startInterval(TICK_MS, tickAll);
  return true;
}

/** Connections being pinged now (for tests and diagnostics). */
export function pingedConnectionCount(): number {
  return pingers.size;
}
