/**
 * The per-service live configuration document (stored in etcd at `<prefix>_fairway_config/<service>`):
 * parsing, validation and applying it to an endpoint set. Pure: no I/O.
 *
 * Version 1 carries per-endpoint weight overrides and drains:
 *
 * ```json
 * { "version": 1, "endpoints": { "pricer-7f9c": { "weight": 0 }, "10.0.0.9:50051": { "weight": 2 } } }
 * ```
 *
 * An `endpoints` entry names an instance (the registration's `instance`) or an address (`host:port`); its
 * weight replaces the registered one (0 drains). Every field is checked: an unknown field, a wrong type or an
 * out-of-range value makes the whole document invalid, with an error naming the field and the value, so the
 * caller keeps its last good document.
 *
 * @packageDocumentation
 */
import type { EndpointInfo } from './contracts.js';

/** A valid live configuration document. */
export interface LiveConfig {
  /** Document format version; only 1 exists. */
  readonly version: 1;
  /** Weight overrides by instance or `host:port`. */
  readonly endpoints: ReadonlyMap<string, { readonly weight: number }>;
}

/** Why a document was refused: `field` is a JSON path such as `endpoints["pricer-1"].weight`. */
export interface LiveConfigError {
  readonly field: string;
  readonly message: string;
}

export type LiveConfigResult = { readonly ok: true; readonly config: LiveConfig } | { readonly ok: false; readonly error: LiveConfigError };

/** The empty document: no overrides. */
export const EMPTY_LIVE_CONFIG: LiveConfig = { version: 1, endpoints: new Map() };

const TOP_FIELDS = new Set(['version', 'endpoints']);
const ENDPOINT_FIELDS = new Set(['weight']);

function refuse(field: string, message: string): LiveConfigResult {
  return { ok: false, error: { field, message: `${field}: ${message}` } };
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and validates a document (JSON text). Never throws. */
export function parseLiveConfig(text: string): LiveConfigResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return refuse('(document)', `not valid JSON (${(e as Error).message})`);
  }
  return validateLiveConfig(doc);
}

/** Validates an already parsed document. Never throws. */
export function validateLiveConfig(doc: unknown): LiveConfigResult {
  if (!isObject(doc)) return refuse('(document)', `must be a JSON object, got ${show(doc)}`);
  for (const k of Object.keys(doc)) {
    if (!TOP_FIELDS.has(k)) return refuse(k, `unknown field (known: ${[...TOP_FIELDS].join(', ')})`);
  }
  if (doc['version'] !== undefined && doc['version'] !== 1) return refuse('version', `must be 1, got ${show(doc['version'])}`);
  const endpoints = new Map<string, { weight: number }>();
  const eps = doc['endpoints'];
  if (eps !== undefined) {
    if (!isObject(eps)) return refuse('endpoints', `must be an object keyed by instance or host:port, got ${show(eps)}`);
    for (const [name, entry] of Object.entries(eps)) {
      const at = `endpoints[${JSON.stringify(name)}]`;
      if (name === '') return refuse(at, 'the instance or host:port must not be empty');
      if (!isObject(entry)) return refuse(at, `must be an object such as {"weight": 0}, got ${show(entry)}`);
      for (const k of Object.keys(entry)) {
        if (!ENDPOINT_FIELDS.has(k)) return refuse(`${at}.${k}`, `unknown field (known: ${[...ENDPOINT_FIELDS].join(', ')})`);
      }
      const w = entry['weight'];
      if (!(typeof w === 'number' && Number.isFinite(w) && w >= 0 && w <= 1_000_000)) {
        return refuse(`${at}.weight`, `must be a number from 0 (drain) to 1000000, got ${show(w)}`);
      }
      endpoints.set(name, { weight: w });
    }
  }
  return { ok: true, config: { version: 1, endpoints } };
}

/**
 * The endpoint set with the document's weight overrides applied (an instance match wins over an address
 * match). Endpoints without an override are returned unchanged (same objects).
 */
export function applyLiveConfig(endpoints: readonly EndpointInfo[], config: LiveConfig): EndpointInfo[] {
  if (config.endpoints.size === 0) return [...endpoints];
  return endpoints.map((e) => {
    const o = (e.instance !== undefined ? config.endpoints.get(e.instance) : undefined) ?? config.endpoints.get(e.address);
    return o === undefined || o.weight === e.weight ? e : { ...e, weight: o.weight };
  });
}

/** The document as JSON text (what `fairway config get` prints and `set` writes). */
export function formatLiveConfig(config: LiveConfig): string {
  const endpoints: Record<string, { weight: number }> = {};
  for (const [k, v] of config.endpoints) endpoints[k] = { weight: v.weight };
  return JSON.stringify({ version: 1, endpoints });
}
