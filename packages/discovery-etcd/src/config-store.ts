/**
 * Reading, writing and watching a service's live configuration document in etcd, for tools (the `fairway
 * config` command). Clients read it through the discovery source (`config-watch.ts`).
 */
import { parseLiveConfig, type LiveConfigResult } from '@fairway/core';
import { prepareConnection, EtcdOptionsError, type EtcdClientOptions } from './connection.js';
import { liveConfigKey } from './config-watch.js';

/** Options of the live configuration helpers: the etcd connection, and the key prefix clients use. */
export type LiveConfigStoreOptions = EtcdClientOptions;

/** A stored document: its text, etcd revision and whether it is valid. */
export interface StoredLiveConfig {
  readonly key: string;
  /** The stored text; undefined when there is no document (no overrides). */
  readonly text: string | undefined;
  /** etcd modification revision; 0 when there is no document. */
  readonly revision: number;
  /** The validation of `text` (a valid empty document when there is none). */
  readonly check: LiveConfigResult;
}

function checkService(service: string): void {
  if (typeof service !== 'string' || service === '' || /[\s/]/.test(service)) {
    throw new EtcdOptionsError(`live config: service must be a non-empty name without "/" or spaces, got ${JSON.stringify(service)}`);
  }
}

function open(service: string, o: LiveConfigStoreOptions) {
  checkService(service);
  const conn = prepareConnection('', o, `live config of ${JSON.stringify(service)}`);
  return { key: liveConfigKey(o.prefix ?? '', service), client: conn.connect(), endpoints: conn.endpoints };
}

/** Reads the document of `service` (rejects when etcd cannot be reached within `dialTimeoutMs`). */
export async function getLiveConfig(service: string, o: LiveConfigStoreOptions = {}): Promise<StoredLiveConfig> {
  const { key, client } = open(service, o);
  try {
    const res = await client.get(key).options({ deadline: Date.now() + (o.dialTimeoutMs ?? 5000) }).exec();
    const kv = res.kvs[0];
    if (kv === undefined) return { key, text: undefined, revision: 0, check: parseLiveConfig('{}') };
    const text = kv.value.toString();
    return { key, text, revision: Number(kv.mod_revision), check: parseLiveConfig(text) };
  } finally {
    client.close();
  }
}

/**
 * Validates `text` and, only when valid, writes it as the document of `service`; resolves with the new etcd
 * revision. An invalid document throws `EtcdOptionsError` naming the field (nothing is written).
 */
export async function setLiveConfig(service: string, text: string, o: LiveConfigStoreOptions = {}): Promise<{ key: string; revision: number }> {
  const check = parseLiveConfig(text);
  if (!check.ok) throw new EtcdOptionsError(`live config of ${JSON.stringify(service)} refused: ${check.error.message}`);
  const { key, client } = open(service, o);
  try {
    const res = await client.put(key).value(text).options({ deadline: Date.now() + (o.dialTimeoutMs ?? 5000) }).exec();
    return { key, revision: Number(res.header.revision) };
  } finally {
    client.close();
  }
}

/**
 * Watches the document of `service`: `onChange` gets every stored version (validated) until the returned
 * `close()` is called. The current version is delivered first.
 */
export async function watchLiveConfig(
  service: string,
  onChange: (doc: StoredLiveConfig) => void,
  o: LiveConfigStoreOptions = {},
): Promise<{ close(): Promise<void> }> {
  const { key, client } = open(service, o);
  try {
    const watcher = await client.watch().key(key).create();
    watcher.on('put', (kv) => {
      const text = kv.value.toString();
      onChange({ key, text, revision: Number(kv.mod_revision), check: parseLiveConfig(text) });
    });
    watcher.on('delete', () => onChange({ key, text: undefined, revision: 0, check: parseLiveConfig('{}') }));
    const res = await client.get(key).options({ deadline: Date.now() + (o.dialTimeoutMs ?? 5000) }).exec();
    const kv = res.kvs[0];
    const text = kv?.value.toString();
    onChange({ key, text, revision: kv ? Number(kv.mod_revision) : 0, check: parseLiveConfig(text ?? '{}') });
    return {
      close: async () => {
        await watcher.cancel().catch(() => undefined);
        client.close();
      },
    };
  } catch (e) {
    client.close();
    throw e;
  }
}
