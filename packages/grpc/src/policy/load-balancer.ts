/**
 * The `fairway_p2c_peak_ewma` policy's state machine, driven by the channel helper.
 *
 * - One child (grpc-js `LeafLoadBalancer`, i.e. pick_first over one endpoint) per endpoint key
 *   (`instance#incarnation` or `address#`). A new incarnation at the same host:port gets a NEW child whose
 *   subchannel options carry the incarnation under a key grpc-js does not strip, so the subchannel pool makes
 *   a fresh connection; the old child is destroyed (its calls in flight complete: the pool holds a ref).
 * - The shared `Balancer` (`@fairway/core`) keeps per-endpoint load across pickers; children's READY state
 *   feeds `setReady`. Released calls of a removed endpoint land on a handle the Balancer no longer tracks.
 * - State: READY when any child is READY (a new `FairwayPicker`), CONNECTING/IDLE while any child may still
 *   connect (calls queue), TRANSIENT_FAILURE only when every child failed. At cold start the first READY
 *   child waits up to `STARTUP_GRACE_MS` for the others still connecting, so calls queued before any
 *   connection do not all land on the first endpoint to connect.
 * - Re-resolution requests from children are ignored while an update is being applied (pick_first asks
 *   synchronously inside `updateAddressList`, the start of the storm) and passed on at most once per
 *   `REREQUEST_MIN_INTERVAL_MS`.
 */
import { connectivityState as ConnectivityState } from '@grpc/grpc-js';
import type { ChannelOptions } from '@grpc/grpc-js';

import { Balancer, CanaryController, endpointKey, resolveCanaryOptions } from '@fairway/core';
import type { CanaryHalt, CanaryOptions, EjectionEvent, EndpointInfo, EndpointStats, LiveBalancerSettings } from '@fairway/core';
import {
  LeafLoadBalancer,
  QueuePicker,
  UnavailablePicker,
  createChildChannelControlHelper,
  subchannelAddressToString,
} from '../grpc-internals.js';
import type { ChannelControlHelper, Endpoint, LoadBalancer, Picker, StatusOr, SubchannelLike, TypedLoadBalancingConfig } from '../grpc-internals.js';
import { ENDPOINT_EVENTS_KEY, ENDPOINT_INFO_ATTRIBUTE, INCARNATION_SUBCHANNEL_KEY, KEEPALIVE_KEY, LIVE_BALANCER_ATTRIBUTE, LIVE_CANARY_ATTRIBUTE, LIVE_SETTINGS_KEY, LOGGER_KEY, PEERS_ATTRIBUTE } from '../channel-keys.js';
import type { LiveSettings } from '../live-settings.js';
import { watchConnection, type KeepaliveSettings } from '../keepalive-pinger.js';
import { SubsetController } from './subset.js';
import { later, nowMs, random, startTimer } from '../clock.js';
import type { TimerHandle } from '../clock.js';
import { getDefaultLogger, logOnce } from '../logger.js';
import type { Logger } from '../logger.js';
import { FairwayPolicyConfig, POLICY_NAME } from './config.js';
import type { FairwayPolicySettings } from './config.js';
import { FairwayPicker, type CanaryRouting } from './picker.js';
import { PickTracker } from './pick-tracker.js';
import { HealthWatch, healthCheckServiceName } from './health-watch.js';
import { toSubchannelAddress } from '../resolver/address.js';

export const REREQUEST_MIN_INTERVAL_MS = 1_000;
/** At start, how long the first READY endpoint waits for the others still connecting (ms). */
export const STARTUP_GRACE_MS = 100;

interface Child {
  readonly key: string;
  readonly info: EndpointInfo;
  readonly leaf: InstanceType<typeof LeafLoadBalancer>;
  state: ConnectivityState;
  picker: Picker;
  destroyed: boolean;
  /** The subchannel pick_first made (the health watch runs on it). */
  subchannel?: SubchannelLike;
  /** Active health check (gRFC A17), while `healthCheckConfig.serviceName` is set and the child is READY. */
  health?: HealthWatch;
  /** Last health answer: false on NOT_SERVING (and before the first answer). */
  serving: boolean;
  /** READY, health watch started, no answer yet: calls wait rather than fail. */
  healthPending: boolean;
}

export class FairwayLoadBalancer implements LoadBalancer {
  private readonly children = new Map<string, Child>();
  private readonly tracker = new PickTracker(nowMs);
  private balancer: Balancer | undefined;
  private settings: FairwayPolicySettings | undefined;
  private applying = false;
  private lastRerequestMs = -Infinity;
  private lastError = '';
  private noEndpointsNote = '';
  private logger: Logger = getDefaultLogger();
  private keepalive: KeepaliveSettings | undefined;
  /** The observers' `onEndpointEvent`, when any has one (see `ENDPOINT_EVENTS_KEY`). */
  private endpointEvents: ((e: EjectionEvent) => void) | undefined;
  /** `healthCheckConfig.serviceName` from the service config; undefined: no active health checks. */
  private healthServiceName: string | undefined;

  /** The channel's holder the policy publishes its endpoint table through (`endpointTable(client)`). */
  private liveSettings: LiveSettings | undefined;
  private readonly endpointTable = (nowMsNow: number): EndpointStats[] => this.balancer?.snapshot(nowMsNow) ?? [];

  constructor(private readonly helper: ChannelControlHelper) {}

  updateAddressList(
    endpointList: StatusOr<Endpoint[]>,
    lbConfig: TypedLoadBalancingConfig,
    options: ChannelOptions,
    resolutionNote: string,
  ): boolean {
    if (!(lbConfig instanceof FairwayPolicyConfig)) return false;
    this.logger = (options[LOGGER_KEY] as Logger | undefined) ?? getDefaultLogger();
    this.keepalive = options[KEEPALIVE_KEY] as KeepaliveSettings | undefined;
    this.endpointEvents = options[ENDPOINT_EVENTS_KEY] as ((e: EjectionEvent) => void) | undefined;
    const holder = options[LIVE_SETTINGS_KEY] as LiveSettings | undefined;
    if (holder !== undefined && holder !== this.liveSettings) {
      this.liveSettings = holder;
      holder.endpointTable = this.endpointTable;
    }
    if (!endpointList.ok) {
      if (this.children.size === 0) {
        this.helper.updateState(
          ConnectivityState.TRANSIENT_FAILURE,
          new UnavailablePicker(endpointList.error),
          endpointList.error.details,
        );
      }
      return true;
    }
    // A live configuration document's balancer settings replace the policy config's, field by field.
    const live = options[LIVE_BALANCER_ATTRIBUTE] as LiveBalancerSettings | undefined;
    if (live === undefined) this.applySettings(lbConfig.settings);
    else {
      try {
        this.applySettings({ ...lbConfig.settings, ...live });
      } catch (e) {
        // Valid alone, but not with this client's own settings (e.g. a zone band low above the client's high).
        logOnce(this.logger, `live-balancer:${JSON.stringify(live)}`, 'warn', `live configuration's balancer settings refused for this client: ${(e as Error).message}; keeping the settings in use`);
        if (this.balancer === undefined) this.applySettings(lbConfig.settings);
      }
    }
    this.applyCanary(options[LIVE_CANARY_ATTRIBUTE] as CanaryOptions | undefined);
    const healthName = healthCheckServiceName(options);
    if (healthName !== this.healthServiceName) {
      this.healthServiceName = healthName;
      for (const child of this.children.values()) this.restartHealth(child);
    }
    // From Fairway's bridge: every entry with its details. From grpc-js's own resolvers (dns:, ipv4:): addresses.
    let infos = options[ENDPOINT_INFO_ATTRIBUTE] as readonly EndpointInfo[] | undefined;
    if (this.subset !== undefined && infos !== undefined) {
      this.lastResolution = { endpointList, lbConfig, options, resolutionNote };
      infos = this.subset.filter(infos, options[PEERS_ATTRIBUTE] as { index: number; count: number } | undefined);
      if (this.subset.whyWhole !== '') logOnce(this.logger, 'subset-whole', 'warn', this.subset.whyWhole);
    }
    const wanted = new Map<string, { info: EndpointInfo; endpoint: Endpoint }>();
    if (infos) {
      for (const info of infos) wanted.set(endpointKey(info), { info, endpoint: { addresses: [toSubchannelAddress(info.address)] } });
    } else {
      for (const endpoint of endpointList.value) {
        const first = endpoint.addresses[0];
        if (!first) continue;
        const info = { address: subchannelAddressToString(first) };
        wanted.set(endpointKey(info), { info, endpoint });
      }
    }
    const now = nowMs();
    this.applying = true;
    try {
      // The Balancer decides which endpoints are live (newest incarnation per instance).
      const { added, kept } = this.balancer!.update([...wanted.values()].map((w) => w.info), now);
      const live = new Set([...added, ...kept]);
      const canaryKeys = new Set<string>();
      const stableKeys = new Set<string>();
      for (const key of live) (wanted.get(key)?.info.canary === true ? canaryKeys : stableKeys).add(key);
      this.canaryKeys = canaryKeys;
      this.stableKeys = stableKeys;
      for (const [key, child] of this.children) {
        const w = wanted.get(key);
        if (!w || !live.has(key) || w.info.address !== child.info.address) this.destroyChild(key, child);
      }
      for (const [key, w] of wanted) {
        if (this.children.has(key) || !live.has(key)) continue;
        // New children connect at once (p2c needs every endpoint ready); existing ones are left alone.
        this.createChild(key, w.info, w.endpoint, options, resolutionNote).leaf.startConnecting();
      }
    } finally {
      this.applying = false;
    }
    this.noEndpointsNote = wanted.size === 0 ? `no endpoints resolved${resolutionNote ? ` (${resolutionNote})` : ''}` : '';
    this.publish();
    return true;
  }

  exitIdle(): void {
    for (const child of this.children.values()) child.leaf.exitIdle();
  }

  resetBackoff(): void {
    // Each child's pick_first has its own backoff; nothing to reset here.
  }

  destroy(): void {
    this.destroyed = true;
    if (this.liveSettings?.endpointTable === this.endpointTable) this.liveSettings.endpointTable = undefined;
    this.startupTimer?.cancel();
    for (const [key, child] of this.children) this.destroyChild(key, child);
    this.tracker.close();
  }

  getTypeName(): string {
    return POLICY_NAME;
  }

  /** For diagnostics and tests. */
  debugState(): { children: Array<{ key: string; state: string }>; unstartedPicks: number; sweptPicks: number } {
    return {
      children: [...this.children.values()].map((c) => ({ key: c.key, state: ConnectivityState[c.state] })),
      unstartedPicks: this.tracker.unstartedCount,
      sweptPicks: this.tracker.sweptCount,
    };
  }

  private subset: SubsetController | undefined;
  private lastResolution: { endpointList: StatusOr<Endpoint[]>; lbConfig: TypedLoadBalancingConfig; options: ChannelOptions; resolutionNote: string } | undefined;
  private resizeScheduled = false;

  /** The picker's hook: feeds the subset's load and re-applies the last resolution when the window changed. */
  private readonly onPick = (now: number): void => {
    if (this.subset === undefined || this.balancer === undefined || !this.subset.onPick(now, this.balancer.inFlight)) return;
    if (this.resizeScheduled) return;
    this.resizeScheduled = true;
    setImmediate(() => {
      this.resizeScheduled = false;
      const r = this.lastResolution;
      if (r !== undefined && !this.destroyed) {
        this.logger.info(`subset: window is now ${this.subset!.currentSize} endpoints (load per member outside 0.8..2 calls in flight)`);
        this.updateAddressList(r.endpointList, r.lbConfig, r.options, r.resolutionNote);
      }
    });
  };

  private applySettings(settings: FairwayPolicySettings): void {
    const same = this.settings && JSON.stringify(this.settings) === JSON.stringify(settings);
    if (same && this.balancer) return;
    const balancer = new Balancer({
      ...(settings.zone !== undefined ? { clientZone: settings.zone } : {}),
      ...(settings.region !== undefined ? { clientRegion: settings.region } : {}),
      decayMs: settings.decayMs,
      zoneBand: { low: settings.zoneBandLow, high: settings.zoneBandHigh },
      ...(settings.zoneLatencyRatio !== undefined ? { zoneLatencyRatio: settings.zoneLatencyRatio } : {}),
      ...(settings.zoneOrder !== undefined ? { zoneOrder: settings.zoneOrder } : {}),
      ...(settings.affinityEpsilon !== undefined ? { affinity: { epsilon: settings.affinityEpsilon } } : {}),
      // Rare (at most one per evaluation interval) and worth knowing: a zone mode change moves traffic.
      onZoneModeChange: (from, to, why) => this.logger.info(`zone mode ${from} -> ${to}: ${why}`),
      ...(settings.outlierEjection !== undefined ? { ejection: settings.outlierEjection } : {}),
      ...(settings.slowStart !== undefined ? { slowStart: settings.slowStart } : {}),
      // Every ejection, ejection probe and re-admission is a log line with its reason (the CLI's endpoint
      // table shows the state; span events need the call layer, see the README's "Outlier ejection").
      onEjection: (e) => {
        this.logger.info(`outlier ejection: ${e.detail}`);
        this.endpointEvents?.(e);
        this.canaryEjected(e);
      },
    }); // throws on settings it refuses: before anything here changed
    this.subset =
      settings.subsetSize === undefined
        ? undefined
        : new SubsetController({
            size: settings.subsetSize,
            ...(settings.subsetClientIndex !== undefined ? { clientIndex: settings.subsetClientIndex, clientCount: settings.subsetClientCount! } : {}),
          });
    const previous = this.balancer;
    this.settings = settings;
    this.balancer = balancer;
    if (settings.zone === undefined) {
      logOnce(this.logger, 'zone-blind', 'info', 'no zone given (option "zone" or FAIRWAY_ZONE): balancing zone-blind');
    }
    if (previous) {
      // Settings changed: children stay, their readiness is re-applied to the new Balancer after update().
      this.reapplyReadiness = true;
    }
  }

  private reapplyReadiness = false;

  /** Canary routing from the live document (`canary` section); undefined: none. */
  private canary: CanaryController | undefined;
  private canaryJson = '';
  private canaryKeys: ReadonlySet<string> = new Set();
  private stableKeys: ReadonlySet<string> = new Set();
  /** The halt, until the first pick after it has reported it (its span event). */
  private unannouncedHalt: CanaryHalt | undefined;

  /** The canary section changed: a new controller (a halted canary resumes when the section changes). */
  private applyCanary(options: CanaryOptions | undefined): void {
    const json = options === undefined ? '' : JSON.stringify(options);
    if (json === this.canaryJson) return;
    this.canaryJson = json;
    this.unannouncedHalt = undefined;
    if (options === undefined) {
      this.canary = undefined;
      return;
    }
    try {
      this.canary = new CanaryController(resolveCanaryOptions(options));
    } catch (e) {
      // The document was validated; this is only reached through another resolver's attributes.
      this.canary = undefined;
      this.logger.warn(`canary settings refused: ${(e as Error).message}`);
    }
  }

  /** A canary endpoint ejected for failing halts the canary (see `CanaryController.haltForEjection`). */
  private canaryEjected(e: EjectionEvent): void {
    const routing = this.canaryRouting();
    if (routing === undefined || e.kind !== 'ejected' || e.reason === 'latency' || !routing.canaryKeys.has(e.key)) return;
    const halt = routing.controller.haltForEjection(e.detail, nowMs());
    if (halt !== undefined) routing.onHalt(halt);
  }

  /** The picker's canary routing: only with a controller and both groups present. */
  private canaryRouting(): CanaryRouting | undefined {
    const controller = this.canary;
    if (controller === undefined || this.canaryKeys.size === 0 || this.stableKeys.size === 0) return undefined;
    return {
      controller,
      canaryKeys: this.canaryKeys,
      stableKeys: this.stableKeys,
      onHalt: (halt) => {
        if (controller !== this.canary) return;
        this.unannouncedHalt = halt;
        this.logger.warn(`canary halted: ${halt.reason}`);
      },
      takeHalt: () => {
        const h = this.unannouncedHalt;
        this.unannouncedHalt = undefined;
        return h;
      },
    };
  }

  private createChild(key: string, info: EndpointInfo, endpoint: Endpoint, options: ChannelOptions, note: string): Child {
    const childOptions: ChannelOptions =
      info.incarnation !== undefined ? { ...options, [INCARNATION_SUBCHANNEL_KEY]: info.incarnation } : options;
    const record = { key, info, state: ConnectivityState.IDLE, destroyed: false, serving: true, healthPending: false } as Child;
    record.picker = new QueuePicker(this);
    const childHelper = createChildChannelControlHelper(this.helper, {
      updateState: (state: ConnectivityState, picker: Picker, errorMessage: string | null) => {
        if (record.destroyed) return;
        const wasReady = record.state === ConnectivityState.READY;
        record.state = state;
        record.picker = picker;
        if (errorMessage) this.lastError = errorMessage;
        if (state === ConnectivityState.READY && !wasReady) this.startHealth(record);
        else if (state !== ConnectivityState.READY && wasReady) this.stopHealth(record);
        this.balancer?.setReady(key, state === ConnectivityState.READY, nowMs());
        if (state === ConnectivityState.IDLE && !this.applying) {
          // Keep every endpoint connected: p2c needs candidates. (Not during an update: startConnecting follows.)
          queueMicrotask(() => {
            if (!record.destroyed && record.state === ConnectivityState.IDLE) record.leaf.exitIdle();
          });
        }
        if (!this.applying) this.publish();
      },
      requestReresolution: () => {
        if (record.destroyed) return;
        this.requestReresolution();
      },
      createSubchannel: (address, args) => {
        const subchannel = this.helper.createSubchannel(address, args);
        // Active health checks (gRFC A17) watch this subchannel; a new one ends the old watch.
        if (record.subchannel !== subchannel) {
          record.health?.stop();
          record.health = undefined;
          record.subchannel = subchannel;
        }
        const keepalive = this.keepalive;
        if (keepalive) {
          // Fairway's keepalive pinger (keepalive-pinger.ts) takes each connection as it becomes READY.
          // grpc-js announces READY just before it stores the connection: look on a later turn.
          const watch = () =>
            later(() => {
              if (subchannel.getConnectivityState() !== ConnectivityState.READY) return;
              if (!watchConnection(subchannel, keepalive, this.logger, info.address)) {
                logOnce(this.logger, 'keepalive-internals', 'error', 'keepalive: this grpc-js version hides the connection Fairway pings; connections are not pinged');
              }
            });
          subchannel.addConnectivityStateListener((_s, _previous, next) => {
            if (next === ConnectivityState.READY) watch();
          });
          if (subchannel.getConnectivityState() === ConnectivityState.READY) watch();
        }
        return subchannel;
      },
    });
    (record as { leaf: InstanceType<typeof LeafLoadBalancer> }).leaf = new LeafLoadBalancer(endpoint, childHelper, childOptions, note);
    this.children.set(key, record);
    return record;
  }

  /**
   * Starts the health watch of a child that just became READY (when the service config asks for one): it is
   * out of picks until the first SERVING answer (gRFC A17).
   */
  private startHealth(child: Child): void {
    const name = this.healthServiceName;
    if (name === undefined || child.subchannel === undefined) return;
    if (child.health === undefined) {
      const address = child.info.address;
      child.health = new HealthWatch(child.subchannel, name, address, {
        onServing: (serving) => {
          if (child.destroyed) return;
          const changed = child.serving !== serving || child.healthPending;
          child.serving = serving;
          child.healthPending = false;
          this.balancer?.setServing(child.key, serving, nowMs());
          if (changed && !this.applying) this.publish();
        },
        onUnimplemented: () =>
          logOnce(
            this.logger,
            `health-unimplemented:${address}`,
            'warn',
            `${address} does not implement grpc.health.v1.Health (UNIMPLEMENTED): treated as healthy, as gRFC A17 says`,
          ),
      });
    }
    child.serving = false;
    child.healthPending = true;
    this.balancer?.setServing(child.key, false, nowMs());
    child.health.start();
  }

  private stopHealth(child: Child): void {
    child.health?.stop();
    child.healthPending = false;
  }

  /** The service name changed (or health checking was turned on or off): start over. */
  private restartHealth(child: Child): void {
    child.health?.stop();
    child.health = undefined;
    child.healthPending = false;
    child.serving = true;
    this.balancer?.setServing(child.key, true, nowMs());
    if (child.state === ConnectivityState.READY) this.startHealth(child);
  }

  private destroyChild(key: string, child: Child): void {
    child.health?.stop();
    child.destroyed = true;
    this.children.delete(key);
    this.balancer?.setReady(key, false, nowMs()); // ignored when the Balancer already dropped the key
    child.leaf.destroy();
  }

  private requestReresolution(): void {
    if (this.applying) return; // pick_first asks inside updateAddressList: that is the storm's first step
    const now = nowMs();
    if (now - this.lastRerequestMs < REREQUEST_MIN_INTERVAL_MS) return;
    this.lastRerequestMs = now;
    this.helper.requestReresolution();
  }

  private everReady = false;
  private startupTimer: TimerHandle | undefined;
  private startupDeadlineMs = Infinity;

  /**
   * True while the first READY endpoint should wait for the others still connecting (at most
   * `STARTUP_GRACE_MS` from the first READY), so a burst of calls queued at start spreads.
   */
  private holdForStartup(): boolean {
    if (this.everReady) return false;
    const now = nowMs();
    if (this.startupDeadlineMs === Infinity) {
      this.startupDeadlineMs = now + STARTUP_GRACE_MS;
      this.startupTimer = startTimer(STARTUP_GRACE_MS, () => {
        this.startupTimer = undefined;
        if (!this.destroyed) this.publish();
      });
    }
    return now < this.startupDeadlineMs;
  }

  private destroyed = false;

  private publish(): void {
    if (this.reapplyReadiness && this.balancer) {
      this.reapplyReadiness = false;
      const now = nowMs();
      for (const child of this.children.values()) {
        this.balancer.setServing(child.key, child.serving, now);
        this.balancer.setReady(child.key, child.state === ConnectivityState.READY, now);
      }
    }
    const ready = new Map<string, Picker>();
    let connecting = 0;
    let healthPending = 0;
    for (const child of this.children.values()) {
      if (child.state === ConnectivityState.READY) {
        ready.set(child.key, child.picker);
        if (child.healthPending) healthPending++;
      } else if (child.state === ConnectivityState.CONNECTING || child.state === ConnectivityState.IDLE) connecting++;
    }
    if (ready.size > 0 && connecting > 0 && this.holdForStartup()) {
      // Cold start: calls queued before any connection would all land on the first endpoint to connect.
      this.helper.updateState(ConnectivityState.CONNECTING, new QueuePicker(this), null);
    } else if (ready.size > 0 && this.balancer!.pickableCount === 0 && healthPending > 0) {
      // Connected, but the health checks have not answered yet (gRFC A17: not READY before the first answer).
      this.helper.updateState(ConnectivityState.CONNECTING, new QueuePicker(this), null);
    } else if (ready.size > 0 && this.balancer!.pickableCount === 0) {
      // Connected, but every READY endpoint is drained (weight 0) or reported NOT_SERVING: fail fast rather
      // than queue calls that nothing will take.
      const details = `${POLICY_NAME}: all ${ready.size} READY endpoint(s) are drained (weight 0) or not serving (health check)`;
      this.helper.updateState(ConnectivityState.TRANSIENT_FAILURE, new UnavailablePicker({ details }), details);
    } else if (ready.size > 0) {
      this.everReady = true;
      const canary = this.canaryRouting();
      const picker = new FairwayPicker(
        {
          balancer: this.balancer!,
          tracker: this.tracker,
          now: nowMs,
          random,
          ...(this.settings?.affinityHeader !== undefined ? { affinityHeader: this.settings.affinityHeader } : {}),
          ...(this.subset !== undefined ? { onPick: this.onPick } : {}),
          ...(canary !== undefined ? { canary } : {}),
        },
        ready,
      );
      this.helper.updateState(ConnectivityState.READY, picker, null);
    } else if (this.children.size === 0) {
      const details = `${POLICY_NAME}: ${this.noEndpointsNote || 'no endpoints'}`;
      this.helper.updateState(ConnectivityState.TRANSIENT_FAILURE, new UnavailablePicker({ details }), details);
    } else if (connecting > 0) {
      this.helper.updateState(ConnectivityState.CONNECTING, new QueuePicker(this), null);
    } else {
      const details = `${POLICY_NAME}: no endpoint reachable (${this.children.size} tried); last error: ${this.lastError || 'unknown'}`;
      this.helper.updateState(ConnectivityState.TRANSIENT_FAILURE, new UnavailablePicker({ details }), details);
    }
  }
}
