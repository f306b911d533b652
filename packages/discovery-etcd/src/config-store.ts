/**
 * Reading, writing and watching a service's live configuration document in etcd, for tools (the `fairway
 * config` command). Clients read it through the discovery source (`config-watch.ts`).
 */
import { parseLiveConfig, type LiveConfigResult } from '@fairway/core';
import { describeError, prepareConnection, EtcdOptionsError, type EtcdClientOptions } from './connection.js';
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

/**
 * An etcd failure in Fairway's terms: what could not be done to which key at which endpoints, then etcd3's own
 * first line (alone it says only "14 UNAVAILABLE: No connection established ..."). The original is the cause.
 */
function storeError(doing: string, key: string, endpoints: readonly string[], e: unknown): Error {
  return new Error(`cannot ${doing} the live configuration document ${JSON.stringify(key)} in etcd at ${endpoints.join(',')}: ${describeError(e)}`, { cause: e });
}

/** Reads the document of `service` (rejects when etcd cannot be reached within `dialTimeoutMs`). */
export async function getLiveConfig(service: string, o: LiveConfigStoreOptions = {}): Promise<StoredLiveConfig> {
  const { key, client, endpoints } = open(service, o);
  try {
    const res = await client
      .get(key)
      .options({ deadline: Date.now() + (o.dialTimeoutMs ?? 5000) })
      .exec()
      .catch((e: unknown) => Promise.reject(storeError('read', key, endpoints, e)));
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
  const { key, client, endpoints } = open(service, o);
  try {
    const res = await client
      .put(key)
      .value(text)
      .options({ deadline: Date.now() + (o.dialTimeoutMs ?? 5000) })
      .exec()
      .catch((e: unknown) => Promise.reject(storeError('write', key, endpoints, e)));
    return { key, revision: Number(res.header.revision) };
  } finally {
    client.close();
  }
}

/**
 * Watches the document of `service`: `onChange` gets every stored version (validated) until the returned
 * `close()` is called. The current version is delivered first. Rejects, naming the key and the endpoints, when
 * etcd cannot be reached within `dialTimeoutMs` (etcd3's watch alone would wait for it forever).
 */
export async function watchLiveConfig(
  service: string,
  onChange: (doc: StoredLiveConfig) => void,
  o: LiveConfigStoreOptions = {},
): Promise<{ close(): Promise<void> }> {
  const { key, client, endpoints } = open(service, o);
  const waitMs = o.dialTimeoutMs ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  try {
    // The current version first, read with a deadline; the watch then starts right after that read's revision,
    // so no version is missed between the two.
    const res = await client.get(key).options({ deadline: Date.now() + waitMs }).exec();
    const creating = client.watch().key(key).startRevision(String(Number(res.header.revision) + 1)).create();
    const watcher = await Promise.race([
      creating,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no watch within ${waitMs} ms`)), waitMs);
      }),
    ]).catch((e: unknown) => {
      void creating.then((w) => w.cancel()).catch(() => undefined);
      throw e;
    });
    const kv = res.kvs[0];
    const text = kv?.value.toString();
    onChange({ key, text, revision: kv ? Number(kv.mod_revision) : 0, check: parseLiveConfig(text ?? '{}') });
    watcher.on('put', (put) => {
      const t = put.value.toString();
      onChange({ key, text: t, revision: Number(put.mod_revision), check: parseLiveConfig(t) });
    });
    watcher.on('delete', () => onChange({ key, text: undefined, revision: 0, check: parseLiveConfig('{}') }));
    return {
      close: async () => {
        await watcher.cancel().catch(() => undefined);
        client.close();
      },
    };
  } catch (e) {
    client.close();
    throw storeError('watch', key, endpoints, e);
  } finally {
    clearTimeout(timer);
  }
}
