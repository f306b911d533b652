/**
 * Loads Fairway's built packages (dist, compiled JavaScript) at run time. Loading is dynamic so the harness
 * and its baselines still run, and say plainly what is missing, while a Fairway part is not built.
 */
import type * as grpc from '@grpc/grpc-js';
import type { CallObserverFactory, AttemptObserver, AttemptOutcome, CallObserver, PickExplanation, ZoneMode } from '@fairway/core';
import { performance } from 'node:perf_hooks';

/** The factory options the benchmark uses (a subset of `FairwayOptions`). */
export interface BenchFairwayOptions {
  zone?: string;
  retry?: { attemptTimeoutMs?: number; maxAttempts?: number; retryIntervalMs?: number; budget?: Record<string, unknown>; hedging?: Record<string, unknown> };
  observers?: CallObserverFactory[];
  discovery?: Record<string, unknown>;
  /** `false`: a baseline without outlier ejection (B10). */
  outlierEjection?: Record<string, unknown> | false;
  /** `true` or options: adaptive concurrency on (B11); off by default. */
  concurrencyLimit?: Record<string, unknown> | boolean;
  /** Receives Fairway's own log lines (zone-mode changes among them). */
  logger?: { info(msg: string): void; warn(msg: string): void; error(msg: string): void };
}

export interface FairwayFactory {
  /** Which module provided it. */
  readonly from: string;
  createClient(ctor: typeof grpc.Client, target: string, creds: grpc.ChannelCredentials, options?: BenchFairwayOptions): grpc.Client;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

let cached: Promise<FairwayFactory | string> | undefined;

/** The factory from `fairway-grpc` (every scheme wired) or `@fairway/grpc`; a string says why neither loaded. */
export function loadFairway(): Promise<FairwayFactory | string> {
  cached ??= (async () => {
    const why: string[] = [];
    for (const name of ['fairway-grpc', '@fairway/grpc']) {
      try {
        const mod = (await import(name)) as Record<string, unknown>;
        if (typeof mod['createClient'] === 'function') {
          const createClient = mod['createClient'] as FairwayFactory['createClient'];
          return { from: name, createClient: (c, t, cr, o) => createClient(c, t, cr, o) };
        }
        why.push(`${name}: no createClient export`);
      } catch (e) {
        why.push(`${name}: ${errText(e)}`);
      }
    }
    return `Fairway's factory is not available (${why.join('; ')}); run npm run build`;
  })();
  return cached;
}

/** Loads a named export of a built workspace package, or returns why it cannot. */
export async function loadExport<T>(pkg: string, name: string): Promise<T | string> {
  try {
    const mod = (await import(pkg)) as Record<string, unknown>;
    if (mod[name] === undefined) return `${pkg} has no export ${name} (not built yet?)`;
    return mod[name] as T;
  } catch (e) {
    return `${pkg} cannot be loaded: ${errText(e)}`;
  }
}

/** One pick as an observer saw it. */
export interface PickEvent {
  /** ms since the recorder's t0 (performance.now() based). */
  readonly atMs: number;
  readonly address: string;
  readonly zoneMode: ZoneMode;
  readonly attempt: number;
}

/** A CallObserverFactory that records every pick (address, zone mode, time). Never throws. */
export class PickRecorder implements CallObserverFactory {
  readonly picks: PickEvent[] = [];
  /** Attempts whose own timer fired. */
  attemptsTimedOut = 0;
  /** Why retries were refused (e.g. budget), with counts. */
  readonly retryRefused: Record<string, number> = {};
  /** Fairway's zone-mode changes with their reasons, from its log (pass {@link PickRecorder.logger}). */
  readonly zoneModeLog: Array<{ atMs: number; line: string }> = [];
  private readonly maxPicks = 2_000_000;
  constructor(public t0: number = performance.now()) {}

  /** A Fairway `logger` that keeps the zone-mode lines (with their time) and drops the rest. */
  readonly logger = {
    info: (msg: string): void => {
      if (msg.startsWith('zone mode ') && this.zoneModeLog.length < 10_000) this.zoneModeLog.push({ atMs: performance.now() - this.t0, line: msg });
    },
    warn: (): void => {},
    error: (): void => {},
  };

  onCallStart(): CallObserver {
    const picks = this.picks;
    const rec = this;
    return {
      onAttemptStart(attempt: number): AttemptObserver {
        return {
          onPick(pick: PickExplanation): void {
            if (picks.length < rec.maxPicks) picks.push({ atMs: performance.now() - rec.t0, address: pick.address, zoneMode: pick.zoneMode, attempt });
          },
          outgoingHeaders: () => ({}),
          onEnd: (outcome: AttemptOutcome) => {
            if (outcome.timedOut) rec.attemptsTimedOut++;
            if (outcome.retryRefusedReason) {
              const why = outcome.retryRefusedReason.replace(/-?\d+(\.\d+)?/g, 'N');
              rec.retryRefused[why] = (rec.retryRefused[why] ?? 0) + 1;
            }
          },
        };
      },
      onEnd: () => {},
    };
  }

  /** Forgets everything recorded (start of a measured run). */
  reset(t0: number): void {
    this.picks.length = 0;
    this.t0 = t0;
    this.attemptsTimedOut = 0;
    this.zoneModeLog.length = 0;
    for (const k of Object.keys(this.retryRefused)) delete this.retryRefused[k];
  }

  /** Zone-mode changes between consecutive picks whose time is in [fromMs, toMs). */
  modeChanges(fromMs: number, toMs: number): number {
    let last: ZoneMode | undefined;
    let n = 0;
    for (const p of this.picks) {
      if (p.atMs < fromMs || p.atMs >= toMs) continue;
      if (last !== undefined && p.zoneMode !== last) n++;
      last = p.zoneMode;
    }
    return n;
  }
}
