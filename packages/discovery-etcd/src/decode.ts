/**
 * The etcd key/value schema, shared with etcd's Go naming package (`go.etcd.io/etcd/client/v3/naming/endpoints`).
 *
 * Key: `<prefix><service>/<instanceId>`. Value: the JSON the Go `endpoints.Manager` writes for `AddEndpoint`:
 * `{"Op":0,"Addr":"10.0.0.7:50051","Metadata":{"zone":"eu-west-1a","instance":"pricer-7f9c","incarnation":"1764032400123-4f1c","weight":1}}`.
 * `Metadata` may be null, absent or not an object (a plain Go registration): then the zone is unknown and the
 * key's `<instanceId>` is the identity.
 *
 * Pure: no I/O.
 */
import { hostPortProblem } from '@fairway/core';
import type { EndpointInfo } from '@fairway/core';

/** Fairway's metadata inside the Go `Metadata` field. Every field is optional. */
export interface EtcdEndpointMetadata {
  readonly zone?: string;
  /** The region (tier above zones); absent: derived from the zone's name by the balancer. */
  readonly region?: string;
  readonly instance?: string;
  readonly incarnation?: string;
  readonly weight?: number;
  /** A canary endpoint (see `EndpointInfo.canary`); absent or false: stable. */
  readonly canary?: boolean;
}

/** The value stored in etcd, as Go's `endpoints.Manager` marshals its `internal.Update`. */
export interface EtcdEndpointValue {
  /** 0 = Add (the only operation that is ever stored; Go's Delete deletes the key). */
  readonly Op: 0;
  readonly Addr: string;
  readonly Metadata: EtcdEndpointMetadata | null;
}

/** Why a value could not be used. `message` names the key and what is wrong. */
export interface DecodeError {
  readonly kind: 'decode-error';
  readonly key: string;
  readonly message: string;
}

/** True when `x` is a {@link DecodeError}. */
export function isDecodeError(x: EndpointInfo | DecodeError): x is DecodeError {
  return (x as DecodeError).kind === 'decode-error';
}

/** The key of one instance of a service: `<prefix><service>/<instanceId>`. */
export function endpointKeyFor(prefix: string, service: string, instanceId: string): string {
  return `${prefix}${service}/${instanceId}`;
}

/** The key prefix under which a service's endpoints live: `<prefix><service>/`. */
export function servicePrefix(prefix: string, service: string): string {
  return `${prefix}${service}/`;
}

/** Encodes a registration exactly as Go's `endpoints.Manager.AddEndpoint` would (same keys, same order). */
export function encodeEtcdValue(address: string, metadata: EtcdEndpointMetadata | null): string {
  const value: EtcdEndpointValue = { Op: 0, Addr: address, Metadata: metadata };
  return JSON.stringify(value);
}

const MAX_VALUE_BYTES = 64 * 1024;

/**
 * Decodes one key/value. `key` is the full key; `servicePrefixString` (e.g. `pricer/`) is cut from it to get
 * the instance id used as identity when the value names no instance. Returns an {@link EndpointInfo} or a
 * {@link DecodeError} naming the key; never throws.
 */
export function decodeEtcdValue(key: string, value: Uint8Array | string, servicePrefixString = ''): EndpointInfo | DecodeError {
  const fail = (problem: string): DecodeError => ({ kind: 'decode-error', key, message: `etcd key ${JSON.stringify(key)}: ${problem}; skipped` });
  const keyId = key.startsWith(servicePrefixString) ? key.slice(servicePrefixString.length) : key;
  if (keyId === '') return fail('the key has no instance id after the service prefix');
  const bytes = typeof value === 'string' ? undefined : value;
  if (bytes && bytes.length > MAX_VALUE_BYTES) return fail(`the value is ${bytes.length} bytes, more than ${MAX_VALUE_BYTES}`);
  let text: string;
  try {
    text = typeof value === 'string' ? value : new TextDecoder('utf-8', { fatal: true }).decode(value);
  } catch {
    return fail('the value is not UTF-8');
  }
  if (text.length > MAX_VALUE_BYTES) return fail(`the value is longer than ${MAX_VALUE_BYTES} characters`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return fail(`the value is not JSON (starts ${JSON.stringify(text.slice(0, 40))}); expected {"Op":0,"Addr":"host:port","Metadata":...}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return fail('the value is not a JSON object; expected {"Op":0,"Addr":"host:port","Metadata":...}');
  }
  const obj = parsed as Record<string, unknown>;
  const op = obj['Op'];
  if (op !== undefined && op !== 0) return fail(`"Op" is ${JSON.stringify(op)}, not 0 (Add)`);
  const addr = obj['Addr'];
  if (typeof addr !== 'string' || addr === '') return fail('"Addr" is missing or not a string');
  const problem = hostPortProblem(addr);
  if (problem) return fail(`"Addr" ${JSON.stringify(addr)}: ${problem}`);
  const md = obj['Metadata'];
  // A plain Go registration: Metadata null/absent, or any non-object value (Go allows interface{}).
  if (typeof md !== 'object' || md === null || Array.isArray(md)) return { address: addr, instance: keyId };
  const m = md as Record<string, unknown>;
  const out: { address: string; zone?: string; region?: string; instance: string; incarnation?: string; weight?: number; canary?: boolean } = {
    address: addr,
    instance: keyId,
  };
  const zone = m['zone'];
  if (zone !== undefined && zone !== null) {
    if (typeof zone !== 'string') return fail('"Metadata.zone" is not a string');
    if (zone !== '') out.zone = zone;
  }
  const region = m['region'];
  if (region !== undefined && region !== null) {
    if (typeof region !== 'string') return fail('"Metadata.region" is not a string');
    if (region !== '') out.region = region;
  }
  const instance = m['instance'];
  if (instance !== undefined && instance !== null) {
    if (typeof instance !== 'string') return fail('"Metadata.instance" is not a string');
    if (instance !== '') out.instance = instance;
  }
  const incarnation = m['incarnation'];
  if (incarnation !== undefined && incarnation !== null) {
    if (typeof incarnation === 'string') {
      if (incarnation !== '') out.incarnation = incarnation;
    } else if (typeof incarnation === 'number' && Number.isFinite(incarnation)) {
      out.incarnation = String(incarnation);
    } else {
      return fail('"Metadata.incarnation" is not a string');
    }
  }
  const weight = m['weight'];
  if (weight !== undefined && weight !== null) {
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) {
      return fail(`"Metadata.weight" ${JSON.stringify(weight)} is not a finite number >= 0 (0 drains)`);
    }
    out.weight = weight;
  }
  const canary = m['canary'];
  if (canary !== undefined && canary !== null) {
    if (typeof canary !== 'boolean') return fail(`"Metadata.canary" ${JSON.stringify(canary)} is not true or false`);
    if (canary) out.canary = true;
  }
  return out;
}
