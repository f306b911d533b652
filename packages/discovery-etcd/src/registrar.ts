/**
 * The registrar: a service that receives calls puts `<prefix><service>/<instance>` under a lease, in the value
 * format of etcd's Go naming package, and keeps the lease alive. When the lease is lost (etcd was down longer
 * than the TTL, or the lease was revoked), it grants a new lease and puts the key again, with back-off, for as
 * long as it takes. It never exits the process. `deregister()` deletes the key (only while it is still this
 * registration's) and revokes the lease.
 */
import { hostname } from 'node:os';
import type { Etcd3, Lease } from 'etcd3';
import { compareIncarnations, createRateLimitedLog, hostPortProblem, newIncarnation, zoneNameProblem } from '@fairway/core';
import { decodeEtcdValue, encodeEtcdValue, endpointKeyFor, isDecodeError, type EtcdEndpointMetadata } from './decode.js';
import { defaultEtcdLogger, describeError, EtcdOptionsError, prepareConnection, type EtcdClientOptions, type EtcdLogger } from './connection.js';

/** What to register. */
export interface RegisterOptions extends EtcdClientOptions {
  /** Service name, e.g. `pricer` (the path of `etcd:///pricer`). Required. */
  readonly service: string;
  /** `host:port` clients connect to, e.g. `10.0.0.7:50051`. Required. */
  readonly address: string;
  /** The zone this process runs in, e.g. `eu-west-1a`. Default: none (clients see the zone as unknown). */
  readonly zone?: string;
  /** The region, the tier above zones (e.g. `eu-west-1`). Default: none (clients derive it from the zone's name). */
  readonly region?: string;
  /** Stable name of this process or pod; the last part of the key. Default: the host name. */
  readonly instance?: string;
  /**
   * Relative capacity: clients divide this endpoint's cost by it. Default 1. 0 registers it drained
   * (discovered, connected, but given no new calls). Change it live with {@link Registration.setWeight}.
   */
  readonly weight?: number;
  /**
   * Registers this endpoint as a canary (metadata `canary: true`): clients whose live configuration document
   * sets `canary.share` send the canary endpoints that share of their calls. Default false.
   */
  readonly canary?: boolean;
  /** Which start of `instance` this is. Default: a fresh `<startMs>-<hex>` per process start. */
  readonly incarnation?: string;
  /** Lease TTL in seconds (an integer >= 1). Default 10. */
  readonly ttlSeconds?: number;
}

/**
 * Every key of {@link RegisterOptions} (its own and the etcd client's), for a caller that takes them among its
 * own options and refuses an unknown key by name (e.g. `serveAndRegisterInEtcd`).
 */
export const REGISTER_OPTION_KEYS = [
  'service', 'address', 'zone', 'region', 'instance', 'weight', 'canary', 'incarnation', 'ttlSeconds',
  'endpoints', 'auth', 'tls', 'dialTimeoutMs', 'prefix', 'logger', 'maxBackoffMs',
] as const satisfies readonly (keyof RegisterOptions)[];
/** Fails to compile when an option is added to `RegisterOptions` (or `EtcdClientOptions`) but not to `REGISTER_OPTION_KEYS`. */
type AllKeysListed<Missing extends never> = Missing;
type AllRegisterOptionKeysListed = AllKeysListed<Exclude<keyof RegisterOptions, (typeof REGISTER_OPTION_KEYS)[number]>>;

/** What a registration is doing now. */
export interface RegistrationStatus {
  /** `registered`: the key is in etcd under a live lease; `re-registering`: the lease was lost and a new one is being put; `superseded`: a newer incarnation of this instance owns the key; `deregistered`. */
  readonly state: 'registered' | 're-registering' | 'superseded' | 'deregistered';
  readonly key: string;
  readonly incarnation: string;
  /** Current lease id (decimal string), while registered. */
  readonly leaseId?: string;
  /** Successful puts of the key (1 after start; more after lease losses). */
  readonly puts: number;
  /** Leases lost. */
  readonly leaseLosses: number;
  readonly lastError?: string;
}

/** A live registration. */
export interface Registration {
  /** The etcd key, e.g. `pricer/pricer-7f9c`. */
  readonly key: string;
  /** This process's incarnation, e.g. `1764032400123-4f1c`. */
  readonly incarnation: string;
  /** The value written, exactly as stored (changes with {@link Registration.setWeight}). */
  readonly value: string;
  status(): RegistrationStatus;
  /**
   * Changes the weight clients see, under the same lease and incarnation: 0 drains this endpoint (clients
   * send it no new calls; calls in flight finish), a weight above 0 brings it back. Resolves once etcd has
   * the new value (or at once while re-registering: the next put carries it); throws `EtcdOptionsError` on a
   * weight that is not a finite number >= 0.
   */
  setWeight(weight: number): Promise<void>;
  /** Deletes the key (while it is still this registration's) and revokes the lease; stops re-registering. Idempotent. */
  deregister(): Promise<void>;
}

function checkRegisterOptions(o: RegisterOptions): string {
  const what = `etcd registration`;
  if (typeof o !== 'object' || o === null) throw new EtcdOptionsError(`${what}: options must be an object`);
  if (typeof o.service !== 'string' || o.service === '' || /[\s/]/.test(o.service)) {
    throw new EtcdOptionsError(`${what}: service must be a non-empty name without "/" or spaces, got ${JSON.stringify(o.service)}`);
  }
  const w = `${what} of ${JSON.stringify(o.service)}`;
  if (typeof o.address !== 'string') throw new EtcdOptionsError(`${w}: address must be "host:port"`);
  const problem = hostPortProblem(o.address);
  if (problem) throw new EtcdOptionsError(`${w}: address ${JSON.stringify(o.address)}: ${problem}`);
  if (o.zone !== undefined && (typeof o.zone !== 'string' || o.zone === '')) throw new EtcdOptionsError(`${w}: zone must be a non-empty string`);
  const zoneProblem = o.zone === undefined ? undefined : zoneNameProblem(o.zone);
  if (zoneProblem !== undefined) throw new EtcdOptionsError(`${w}: zone ${JSON.stringify(o.zone!.slice(0, 80))} ${zoneProblem}`);
  if (o.region !== undefined && (typeof o.region !== 'string' || o.region === '')) throw new EtcdOptionsError(`${w}: region must be a non-empty string`);
  const regionProblem = o.region === undefined ? undefined : zoneNameProblem(o.region);
  if (regionProblem !== undefined) throw new EtcdOptionsError(`${w}: region ${JSON.stringify(o.region!.slice(0, 80))} ${regionProblem}`);
  if (o.instance !== undefined && (typeof o.instance !== 'string' || o.instance === '' || /[\s/]/.test(o.instance))) {
    throw new EtcdOptionsError(`${w}: instance must be a non-empty name without "/" or spaces, got ${JSON.stringify(o.instance)}`);
  }
  if (o.weight !== undefined) checkWeight(w, o.weight);
  if (o.incarnation !== undefined && (typeof o.incarnation !== 'string' || o.incarnation === '')) {
    throw new EtcdOptionsError(`${w}: incarnation must be a non-empty string`);
  }
  if (o.ttlSeconds !== undefined && !(Number.isInteger(o.ttlSeconds) && o.ttlSeconds >= 1)) {
    throw new EtcdOptionsError(`${w}: ttlSeconds must be an integer >= 1 (seconds), got ${JSON.stringify(o.ttlSeconds)}`);
  }
  if (o.prefix !== undefined && typeof o.prefix !== 'string') throw new EtcdOptionsError(`${w}: prefix must be a string`);
  return w;
}

function checkWeight(what: string, weight: unknown): void {
  if (!(typeof weight === 'number' && Number.isFinite(weight) && weight >= 0)) {
    throw new EtcdOptionsError(`${what}: weight must be a finite number >= 0 (0 drains), got ${JSON.stringify(weight)}`);
  }
}

/**
 * Registers this process in etcd and keeps it registered. Resolves once the key is written; rejects (and
 * leaves nothing running) when etcd cannot be reached within `dialTimeoutMs` at start, naming the endpoints.
 */
export async function register(options: RegisterOptions): Promise<Registration> {
  const what = checkRegisterOptions(options);
  const { endpoints, connect } = prepareConnection('', options, what);
  const client = connect();
  const reg = new EtcdRegistration(client, endpoints, options, what);
  try {
    await reg.first();
  } catch (err) {
    client.close();
    throw new Error(`${what}: cannot register ${reg.key} in etcd at ${endpoints.join(',')}: ${describeError(err)}`, { cause: err });
  }
  return reg;
}

/**
 * Why etcd3 gave a lease up, in Fairway's terms. etcd3 reports a lease etcd no longer has as "Lease <id> is
 * expired or revoked", and a keep-alive that stopped reaching etcd as "Lease We lost connection to etcd and our
 * lease has expired. is expired or revoked" (its text passed where an id goes): neither says what that means for
 * the registration. Any other error's text is kept as the cause.
 */
export function describeLeaseLoss(err: unknown, ttlSeconds: number): string {
  const text = describeError(err);
  if (/lost connection to etcd/i.test(text)) {
    return `no keep-alive got through to etcd for over ${2 * ttlSeconds}s (twice the ${ttlSeconds}s TTL), so etcd has let it expire and deleted the key with it`;
  }
  if (/is expired or revoked|lease not found/i.test(text)) {
    return 'etcd no longer has it (revoked, e.g. by etcdctl lease revoke, or expired before a keep-alive arrived), and deleted the key with it';
  }
  return `etcd3 gave it up: ${text}`;
}

class EtcdRegistration implements Registration {
  readonly key: string;
  readonly incarnation: string;
  value: string;
  private readonly instance: string;
  private weight: number;
  private lease: Lease | undefined;
  private leaseId: string | undefined;
  private state: RegistrationStatus['state'] = 're-registering';
  private puts = 0;
  private leaseLosses = 0;
  private lastError: string | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private backoffMs = 200;
  private readonly ttl: number;
  private readonly log: EtcdLogger;
  private readonly rl: ReturnType<typeof createRateLimitedLog>;

  constructor(
    private readonly client: Etcd3,
    private readonly endpoints: readonly string[],
    private readonly o: RegisterOptions,
    private readonly what: string,
  ) {
    const instance = o.instance ?? hostname();
    this.instance = instance;
    this.key = endpointKeyFor(o.prefix ?? '', o.service, instance);
    this.incarnation = o.incarnation ?? newIncarnation(Date.now(), Math.random);
    this.weight = o.weight ?? 1;
    this.value = this.encode();
    this.ttl = o.ttlSeconds ?? 10;
    this.log = o.logger ?? defaultEtcdLogger;
    this.rl = createRateLimitedLog(this.log, 30_000);
  }

  private encode(): string {
    const md: EtcdEndpointMetadata = {
      ...(this.o.zone !== undefined ? { zone: this.o.zone } : {}),
      ...(this.o.region !== undefined ? { region: this.o.region } : {}),
      instance: this.instance,
      incarnation: this.incarnation,
      weight: this.weight,
      ...(this.o.canary === true ? { canary: true } : {}),
    };
    return encodeEtcdValue(this.o.address, md);
  }

  async setWeight(weight: number): Promise<void> {
    checkWeight(this.what, weight);
    if (this.closed) throw new Error(`${this.what}: setWeight after deregister`);
    this.weight = weight;
    this.value = this.encode();
    const lease = this.lease;
    const leaseId = this.leaseId;
    if (this.state !== 'registered' || lease === undefined || leaseId === undefined) return; // the next put carries it
    // Only while the key is still ours, under the same lease (a newer incarnation may own it now).
    await this.client
      .if(this.key, 'Lease', '==', leaseId)
      .then(this.client.put(this.key).value(this.value).lease(leaseId))
      .options({ deadline: Date.now() + (this.o.dialTimeoutMs ?? 5000) })
      .commit();
  }

  async first(): Promise<void> {
    const deadline = Date.now() + (this.o.dialTimeoutMs ?? 5000);
    let last: unknown;
    for (let i = 0; i < 50 && Date.now() < deadline; i++) {
      try {
        await this.putUnderNewLease(deadline);
        return;
      } catch (err) {
        last = err;
        if (/auth|permission/i.test(describeError(err))) break;
        await new Promise((r) => setTimeout(r, Math.min(200 * (i + 1), Math.max(0, deadline - Date.now()))));
      }
    }
    this.closed = true; // nothing keeps running after a failed start
    this.closeLease();
    throw last ?? new Error(`no answer within ${this.o.dialTimeoutMs ?? 5000}ms`);
  }

  status(): RegistrationStatus {
    return {
      state: this.state,
      key: this.key,
      incarnation: this.incarnation,
      ...(this.leaseId !== undefined && this.state === 'registered' ? { leaseId: this.leaseId } : {}),
      puts: this.puts,
      leaseLosses: this.leaseLosses,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }

  private async putUnderNewLease(deadlineMs: number): Promise<void> {
    this.closeLease();
    // A newer incarnation of this instance owns the key: do not overwrite it.
    const current = await this.client.get(this.key).options({ deadline: deadlineMs }).buffer();
    if (current) {
      const decoded = decodeEtcdValue(this.key, current, '');
      if (!isDecodeError(decoded) && decoded.incarnation !== undefined && decoded.incarnation !== this.incarnation) {
        const c = compareIncarnations(decoded.incarnation, this.incarnation);
        if (c !== undefined && c > 0) {
          this.state = 'superseded';
          this.log.warn(`${this.what}: ${this.key} now belongs to newer incarnation ${decoded.incarnation} (this one is ${this.incarnation}); not re-registering`);
          return;
        }
      }
    }
    const lease = this.client.lease(this.ttl, { deadline: deadlineMs } as never);
    this.lease = lease;
    lease.on('lost', (err: unknown) => this.onLost(lease, err));
    const id = await lease.grant();
    await lease.put(this.key).value(this.value).options({ deadline: deadlineMs }).exec();
    if (this.closed || this.lease !== lease) {
      // Deregistered (or replaced) while this put was on its way: take the key away again with its lease.
      lease.removeAllListeners('lost');
      lease.on('lost', () => undefined);
      lease.revoke().catch(() => undefined);
      return;
    }
    this.leaseId = String(id);
    this.puts++;
    this.state = 'registered';
    this.lastError = undefined;
    this.backoffMs = 200;
  }

  private onLost(lease: Lease, err: unknown): void {
    // Only a lease that carried the key counts as lost; a failed grant is handled by whoever awaited it.
    if (this.closed || this.lease !== lease || this.state !== 'registered') return;
    this.leaseLosses++;
    this.state = 're-registering';
    this.lastError = describeLeaseLoss(err, this.ttl);
    // Every loss is said, not rate-limited like the retry lines: each one took the endpoint away from clients
    // after it was registered again (which `retry` says at info), so two in a row are two outages.
    this.warn(
      `${this.what}: lost lease ${this.leaseId} of ${this.key}: ${this.lastError}; clients no longer see this endpoint until it is back. ` +
        `Re-registering it in etcd at ${this.endpoints.join(',')} under a new lease` +
        (this.leaseLosses > 1 ? ` (lease losses so far: ${this.leaseLosses})` : ''),
    );
    this.scheduleRetry(0);
  }

  private warn(message: string): void {
    try {
      this.log.warn(message);
    } catch {
      /* a logger must never break the registration */
    }
  }

  private scheduleRetry(ms: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.retry();
    }, ms);
  }

  private async retry(): Promise<void> {
    if (this.closed) return;
    try {
      await this.putUnderNewLease(Date.now() + (this.o.dialTimeoutMs ?? 5000));
      if (this.state === 'registered') this.log.info(`${this.what}: ${this.key} registered again under lease ${this.leaseId}`);
    } catch (err) {
      if (this.closed) return;
      this.lastError = describeError(err);
      this.state = 're-registering';
      this.rl.warn('retry', `${this.what}: cannot re-register ${this.key} at ${this.endpoints.join(',')} (${this.lastError}); retrying`);
      const wait = this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, this.o.maxBackoffMs ?? 5000);
      this.scheduleRetry(wait);
    }
  }

  private closeLease(): void {
    const l = this.lease;
    this.lease = undefined;
    if (l) {
      l.removeAllListeners('lost');
      l.on('lost', () => undefined);
      // Best effort: the old lease's keys are re-put under the new one anyway.
      l.revoke().catch(() => undefined);
    }
  }

  async deregister(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const lease = this.lease;
    this.lease = undefined;
    const deadline = Date.now() + (this.o.dialTimeoutMs ?? 5000);
    try {
      if (lease && this.leaseId !== undefined) {
        lease.removeAllListeners('lost');
        lease.on('lost', () => undefined);
        // Delete the key only while it is still ours (a newer incarnation may have taken it over).
        await this.client
          .if(this.key, 'Lease', '==', this.leaseId)
          .then(this.client.delete().key(this.key))
          .options({ deadline })
          .commit();
        await lease.revoke({ deadline } as never);
      }
    } catch (err) {
      this.log.warn(`${this.what}: deregistering ${this.key} failed (${describeError(err)}); the key expires with its lease within ${this.ttl}s`);
    } finally {
      lease?.release();
      this.state = 'deregistered';
      this.client.close();
    }
  }
}
