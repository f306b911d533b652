/**
 * The object store behind the Kubernetes API stand-in: EndpointSlices keyed by namespace/name, one
 * cluster-wide, monotonically increasing resourceVersion (as etcd's revision is for the real API server),
 * and a bounded history of change events that watches replay from. Watching from a resourceVersion older
 * than the history (after `compact()` or when the history overflowed) is "410 Gone", as with etcd compaction.
 */

/** A Kubernetes object as JSON (only `metadata.name`/`namespace`/`labels` are interpreted). */
export type KubeObject = Record<string, unknown> & {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string; [k: string]: unknown };
};

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One change, as a watch replays it. */
export interface StoredEvent {
  readonly rv: number;
  readonly type: WatchEventType;
  /** The object after the change (for DELETED: the last state, with the deletion's resourceVersion). */
  readonly object: KubeObject;
  /** The object before the change (absent for ADDED): to tell a label-selector watch that an object left its selection. */
  readonly previous?: KubeObject;
}

/** One `key=value`, `key!=value`, `key`, `!key`, `key in (a,b)` or `key notin (a,b)` requirement. */
interface Requirement {
  readonly key: string;
  readonly op: 'eq' | 'neq' | 'exists' | 'notexists' | 'in' | 'notin';
  readonly values: readonly string[];
}

/** A parsed label selector; `matches(labels)` tells whether an object's labels satisfy all requirements. */
export interface LabelSelector {
  readonly text: string;
  matches(labels: Record<string, string> | undefined): boolean;
}

/** Parses a label selector as the API server does (equality- and set-based). Throws with a message on bad syntax. */
export function parseLabelSelector(text: string | null | undefined): LabelSelector {
  const src = (text ?? '').trim();
  const reqs: Requirement[] = [];
  if (src !== '') {
    // Split on commas that are not inside parentheses.
    const parts: string[] = [];
    let depth = 0;
    let start = 0;
    for (let i = 0; i < src.length; i++) {
      const c = src[i];
      if (c === '(') depth++;
      else if (c === ')') depth--;
      else if (c === ',' && depth === 0) {
        parts.push(src.slice(start, i));
        start = i + 1;
      }
    }
    parts.push(src.slice(start));
    for (const raw of parts) {
      const p = raw.trim();
      let m: RegExpExecArray | null;
      if ((m = /^([\w./-]+)\s*(!=)\s*([\w.-]*)$/.exec(p))) reqs.push({ key: m[1]!, op: 'neq', values: [m[3]!] });
      else if ((m = /^([\w./-]+)\s*(==|=)\s*([\w.-]*)$/.exec(p))) reqs.push({ key: m[1]!, op: 'eq', values: [m[3]!] });
      else if ((m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(p))) {
        reqs.push({ key: m[1]!, op: m[2] === 'in' ? 'in' : 'notin', values: m[3]!.split(',').map((v) => v.trim()) });
      } else if ((m = /^!([\w./-]+)$/.exec(p))) reqs.push({ key: m[1]!, op: 'notexists', values: [] });
      else if ((m = /^([\w./-]+)$/.exec(p))) reqs.push({ key: m[1]!, op: 'exists', values: [] });
      else throw new Error(`unable to parse requirement: ${JSON.stringify(p)}`);
    }
  }
  return {
    text: src,
    matches(labels) {
      const l = labels ?? {};
      return reqs.every((r) => {
        const has = Object.prototype.hasOwnProperty.call(l, r.key);
        const v = has ? l[r.key] : undefined;
        switch (r.op) {
          case 'eq':
            return has && v === r.values[0];
          case 'neq':
            return !has || v !== r.values[0];
          case 'exists':
            return has;
          case 'notexists':
            return !has;
          case 'in':
            return has && r.values.includes(v!);
          case 'notin':
            return !has || !r.values.includes(v!);
        }
      });
    },
  };
}

function clone<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}

/** The stand-in's state: objects, the current resourceVersion and the bounded event history. */
export class ObjectStore {
  private readonly objects = new Map<string, KubeObject>();
  private readonly history: StoredEvent[] = [];
  private rv: number;
  /** Watches from a resourceVersion below this are answered with 410 Gone. */
  private oldestWatchableRv: number;
  private readonly listeners = new Set<(e: StoredEvent) => void>();
  private uidCounter = 0;

  constructor(
    private readonly historyLimit: number,
    startRv = 1000,
  ) {
    this.rv = startRv;
    this.oldestWatchableRv = startRv;
  }

  get resourceVersion(): number {
    return this.rv;
  }

  get oldestResourceVersion(): number {
    return this.oldestWatchableRv;
  }

  /** Subscribes to every change; returns the unsubscribe function. */
  subscribe(fn: (e: StoredEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Creates or replaces an object (server-side fields are filled in), returning the stored copy. */
  put(namespace: string, input: KubeObject): KubeObject {
    const name = input.metadata?.name;
    if (typeof name !== 'string' || name === '') throw new Error('the object needs metadata.name');
    const key = `${namespace}/${name}`;
    const previous = this.objects.get(key);
    const obj = clone(input);
    this.rv += 1;
    const prevMeta = (previous?.metadata ?? {}) as Record<string, unknown>;
    obj.metadata = {
      ...obj.metadata,
      name,
      namespace,
      uid: (prevMeta.uid as string | undefined) ?? `00000000-0000-4000-8000-${String(++this.uidCounter).padStart(12, '0')}`,
      resourceVersion: String(this.rv),
      generation: ((prevMeta.generation as number | undefined) ?? 0) + 1,
      creationTimestamp: (prevMeta.creationTimestamp as string | undefined) ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    };
    this.objects.set(key, obj);
    this.record({ rv: this.rv, type: previous ? 'MODIFIED' : 'ADDED', object: obj, ...(previous ? { previous } : {}) });
    return clone(obj);
  }

  /** Deletes an object; returns false when it did not exist. */
  delete(namespace: string, name: string): boolean {
    const key = `${namespace}/${name}`;
    const previous = this.objects.get(key);
    if (!previous) return false;
    this.objects.delete(key);
    this.rv += 1;
    const obj = clone(previous);
    obj.metadata = { ...obj.metadata, resourceVersion: String(this.rv) };
    this.record({ rv: this.rv, type: 'DELETED', object: obj, previous });
    return true;
  }

  /** Objects in a namespace (or all namespaces when undefined) that match the selector, ordered by namespace/name. */
  list(namespace: string | undefined, selector: LabelSelector): KubeObject[] {
    const out: KubeObject[] = [];
    const keys = [...this.objects.keys()].sort();
    for (const k of keys) {
      const o = this.objects.get(k)!;
      if (namespace !== undefined && o.metadata?.namespace !== namespace) continue;
      if (!selector.matches(o.metadata?.labels)) continue;
      out.push(clone(o));
    }
    return out;
  }

  /**
   * The events after `fromRv` (exclusive), or undefined when some of them were compacted away (410 Gone).
   */
  eventsSince(fromRv: number): StoredEvent[] | undefined {
    if (fromRv < this.oldestWatchableRv) return undefined;
    return this.history.filter((e) => e.rv > fromRv);
  }

  /** Forgets the whole history: any watch from an older resourceVersion than now gets 410 Gone. */
  compact(): void {
    this.history.length = 0;
    this.oldestWatchableRv = this.rv;
  }

  private record(e: StoredEvent): void {
    this.history.push(e);
    while (this.history.length > this.historyLimit) {
      const dropped = this.history.shift()!;
      this.oldestWatchableRv = dropped.rv;
    }
    for (const fn of [...this.listeners]) fn(e);
  }
}
