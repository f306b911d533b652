/**
 * Turning `discovery.k8s.io/v1` EndpointSlices into endpoints: pure functions, no I/O, so they can be
 * property-tested with arbitrary (garbage) input.
 *
 * The mapping (see the architecture's "EndpointSlice mapping"):
 * - address: `addresses[0]` with the slice's port of the target's name or number; IPv6 as `[addr]:port`;
 * - conditions: `ready` absent means ready (the API's "unknown, treat as ready"); `serving` absent defers to
 *   `ready`; `terminating` absent means false. Usable: ready. When no endpoint of the whole Service is ready,
 *   those serving while terminating are used (KEP-1669: a rolling update with all pods terminating still serves);
 * - zone: `zone`, else the first of `hints.forZones` (a tie-break only);
 * - identity: `targetRef` (Pod name = instance, Pod uid = incarnation).
 *
 * Unlike kuberesolver, every slice of the Service counts (it took one slice as the whole set, broken past 100
 * endpoints) and garbage is skipped with a warning that names the slice, never a crash.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { EndpointInfo } from '@fairway/core';

/** One endpoint of a slice, with its conditions (the choice among them is made over all slices). */
export interface DecodedEndpoint extends EndpointInfo {
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
}

/** What {@link decodeEndpointSlice} made of one object. */
export interface DecodedSlice {
  /** `metadata.name`, or undefined when missing (such a slice cannot be merged and is ignored). */
  readonly name: string | undefined;
  readonly endpoints: readonly DecodedEndpoint[];
  /** Human-readable problems, each naming the slice; the endpoints they concern are left out. */
  readonly warnings: readonly string[];
}

/** Options of {@link decodeEndpointSlice}. */
export interface DecodeOptions {
  /** The target's port: a name (matched against `ports[].name`) or a number; absent: the slice's only port. */
  readonly port?: string;
  /** Slices with more endpoints are ignored as garbage, default 1000 (the API's own limit per slice). */
  readonly maxEndpointsPerSlice?: number;
}

const MAX_WARNINGS_PER_SLICE = 5;

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function describe(x: unknown): string {
  if (x === undefined) return 'missing';
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'string') return `the string ${JSON.stringify(x.length > 40 ? x.slice(0, 40) + '...' : x)}`;
  return typeof x === 'object' ? 'an object' : `${typeof x} ${String(x)}`;
}

/**
 * Decodes one EndpointSlice object (as JSON-parsed from the API) into endpoints and warnings. Never throws.
 */
export function decodeEndpointSlice(obj: unknown, options: DecodeOptions = {}): DecodedSlice {
  const warnings: string[] = [];
  if (!isObject(obj)) return { name: undefined, endpoints: [], warnings: [`an EndpointSlice is ${describe(obj)}, not an object; ignored`] };
  const meta = obj.metadata;
  const rawName = isObject(meta) ? meta.name : undefined;
  const name = typeof rawName === 'string' && rawName !== '' ? rawName : undefined;
  const ns = isObject(meta) && typeof meta.namespace === 'string' ? `${meta.namespace}/` : '';
  const label = `EndpointSlice ${name !== undefined ? ns + name : '(no metadata.name)'}`;
  const warn = (m: string) => {
    if (warnings.length < MAX_WARNINGS_PER_SLICE) warnings.push(`${label}: ${m}`);
    else if (warnings.length === MAX_WARNINGS_PER_SLICE) warnings.push(`${label}: more problems not shown`);
  };
  if (name === undefined) {
    warn('metadata.name is missing or not a string; slice ignored');
    return { name, endpoints: [], warnings };
  }
  const addressType = obj.addressType;
  if (addressType !== 'IPv4' && addressType !== 'IPv6' && addressType !== 'FQDN') {
    warn(`addressType is ${describe(addressType)}, not "IPv4", "IPv6" or "FQDN"; slice ignored`);
    return { name, endpoints: [], warnings };
  }
  const port = slicePort(obj.ports, options.port, warn);
  if (port === undefined) return { name, endpoints: [], warnings };
  const list = obj.endpoints;
  if (list === undefined || list === null) return { name, endpoints: [], warnings }; // a slice with no endpoints is valid
  if (!Array.isArray(list)) {
    warn(`endpoints is ${describe(list)}, not a list; slice ignored`);
    return { name, endpoints: [], warnings };
  }
  const max = options.maxEndpointsPerSlice ?? 1000;
  if (list.length > max) {
    warn(`has ${list.length} endpoints, more than the ${max} an EndpointSlice may hold; slice ignored as oversized`);
    return { name, endpoints: [], warnings };
  }
  const endpoints: DecodedEndpoint[] = [];
  list.forEach((ep: unknown, i: number) => {
    const d = decodeEndpoint(ep, addressType, port, (m) => warn(`endpoint ${i}: ${m}`));
    if (d) endpoints.push(d);
  });
  return { name, endpoints, warnings };
}

function slicePort(ports: unknown, wanted: string | undefined, warn: (m: string) => void): number | undefined {
  const validPort = (p: unknown): p is number => typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535;
  if (wanted !== undefined && /^\d+$/.test(wanted)) {
    // A number is the endpoints' own port (the Service's targetPort), whatever the slice's port list says.
    return Number(wanted);
  }
  if (ports !== undefined && ports !== null && !Array.isArray(ports)) {
    warn(`ports is ${describe(ports)}, not a list; slice ignored`);
    return undefined;
  }
  const list = (ports ?? []) as unknown[];
  if (wanted === undefined) {
    if (list.length !== 1) {
      warn(`the target names no port and the slice has ${list.length} ports; write "k8s:///<service>.<namespace>:<port name or number>"; slice ignored`);
      return undefined;
    }
    const only = list[0];
    const p = isObject(only) ? only.port : undefined;
    if (!validPort(p)) {
      warn(`ports[0].port is ${describe(p)}, not a port number; slice ignored`);
      return undefined;
    }
    return p;
  }
  const names: string[] = [];
  for (const entry of list) {
    if (!isObject(entry)) continue;
    const n = typeof entry.name === 'string' ? entry.name : '';
    names.push(n === '' ? '(unnamed)' : n);
    if (n === wanted) {
      if (!validPort(entry.port)) {
        warn(`port "${wanted}" is ${describe(entry.port)}, not a port number; slice ignored`);
        return undefined;
      }
      return entry.port;
    }
  }
  warn(`has no port named "${wanted}" (ports: ${names.join(', ') || 'none'}); slice ignored`);
  return undefined;
}

function decodeEndpoint(ep: unknown, addressType: 'IPv4' | 'IPv6' | 'FQDN', port: number, warn: (m: string) => void): DecodedEndpoint | undefined {
  if (!isObject(ep)) {
    warn(`is ${describe(ep)}, not an object; skipped`);
    return undefined;
  }
  const addresses = ep.addresses;
  if (!Array.isArray(addresses) || addresses.length === 0 || typeof addresses[0] !== 'string') {
    warn(`addresses is ${describe(addresses)}, not a non-empty list of strings; skipped`);
    return undefined;
  }
  const ip = addresses[0];
  let address: string;
  if (addressType === 'IPv4' && isIPv4(ip)) address = `${ip}:${port}`;
  else if (addressType === 'IPv6' && isIPv6(ip)) address = `[${ip}]:${port}`;
  else if (addressType === 'FQDN' && /^(?=.{1,253}$)[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*$/.test(ip)) address = `${ip}:${port}`;
  else {
    warn(`address ${JSON.stringify(ip.slice(0, 80))} is not a valid ${addressType} address; skipped`);
    return undefined;
  }
  const cond = ep.conditions ?? {};
  if (!isObject(cond)) {
    warn(`conditions is ${describe(cond)}, not an object; skipped`);
    return undefined;
  }
  const flag = (key: 'ready' | 'serving' | 'terminating'): boolean | undefined | 'bad' => {
    const v = cond[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'boolean') return v;
    warn(`conditions.${key} is ${describe(v)}, not a boolean; skipped`);
    return 'bad';
  };
  const r = flag('ready');
  const s = flag('serving');
  const t = flag('terminating');
  if (r === 'bad' || s === 'bad' || t === 'bad') return undefined;
  const ready = r ?? true;
  const serving = s ?? ready;
  const terminating = t ?? false;

  let zone: string | undefined;
  if (typeof ep.zone === 'string' && ep.zone !== '') zone = ep.zone;
  else if (ep.zone !== undefined && ep.zone !== null) warn(`zone is ${describe(ep.zone)}, not a string; zone ignored`);
  if (zone === undefined && isObject(ep.hints) && Array.isArray(ep.hints.forZones)) {
    const first: unknown = ep.hints.forZones[0];
    if (isObject(first) && typeof first.name === 'string' && first.name !== '') zone = first.name;
  }
  let instance: string | undefined;
  let incarnation: string | undefined;
  if (ep.targetRef !== undefined && ep.targetRef !== null) {
    const ref = ep.targetRef;
    if (isObject(ref) && typeof ref.name === 'string' && ref.name !== '') {
      instance = ref.name;
      if (typeof ref.uid === 'string' && ref.uid !== '') incarnation = ref.uid;
    } else {
      warn('targetRef has no name; the address is its identity');
    }
  }
  return {
    address,
    ...(zone !== undefined ? { zone } : {}),
    ...(instance !== undefined ? { instance } : {}),
    ...(incarnation !== undefined ? { incarnation } : {}),
    ready,
    serving,
    terminating,
  };
}

/** Which endpoints {@link selectEndpoints} chose, and why. */
export interface Selection {
  readonly endpoints: EndpointInfo[];
  /** `ready`: the ready endpoints; `terminating-fallback`: none was ready, so those serving while terminating; `none`. */
  readonly mode: 'ready' | 'terminating-fallback' | 'none';
  /**
   * The Service's other endpoints, left out for their conditions (not ready; or terminating while others are
   * ready), one per address, sorted by address: what an operator also wants to see (`fairway resolve`), never
   * routed to.
   */
  readonly unused: DecodedEndpoint[];
}

/**
 * Chooses the usable endpoints of a whole Service from all its slices: the ready ones, or (when none is
 * ready) those serving while terminating. One endpoint per address (a ready copy wins when two slices list
 * the same address during a slice migration) and per instance. Sorted by address, so equal sets compare equal.
 */
export function selectEndpoints(slices: Iterable<readonly DecodedEndpoint[]>): Selection {
  const all: DecodedEndpoint[] = [];
  for (const s of slices) all.push(...s);
  let chosen = all.filter((e) => e.ready);
  let mode: Selection['mode'] = 'ready';
  if (chosen.length === 0) {
    chosen = all.filter((e) => e.serving && e.terminating);
    mode = chosen.length > 0 ? 'terminating-fallback' : 'none';
  }
  const byAddress = new Map<string, DecodedEndpoint>();
  for (const e of chosen) if (!byAddress.has(e.address)) byAddress.set(e.address, e);
  const byInstance = new Map<string, DecodedEndpoint>();
  const out: EndpointInfo[] = [];
  for (const e of [...byAddress.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))) {
    if (e.instance !== undefined) {
      if (byInstance.has(e.instance)) continue;
      byInstance.set(e.instance, e);
    }
    out.push({
      address: e.address,
      ...(e.zone !== undefined ? { zone: e.zone } : {}),
      ...(e.instance !== undefined ? { instance: e.instance } : {}),
      ...(e.incarnation !== undefined ? { incarnation: e.incarnation } : {}),
    });
  }
  const unused = new Map<string, DecodedEndpoint>();
  for (const e of all) if (!byAddress.has(e.address) && !unused.has(e.address)) unused.set(e.address, e);
  return { endpoints: out, mode, unused: [...unused.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0)) };
}
