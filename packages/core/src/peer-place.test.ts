// withPeerPlace as composition, with plain in-memory sources: the place on snapshots, and the source inside.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DiscoveryListener, DiscoverySource, EndpointSnapshot } from './contracts.js';
import { sourceInsidePeerPlace, withPeerPlace } from './peer-place.js';

class ListSource implements DiscoverySource {
  listener: DiscoveryListener | undefined;
  note: string | undefined;
  constructor(private readonly snapshot: EndpointSnapshot) {}
  start(l: DiscoveryListener): void {
    this.listener = l;
    l.onSnapshot(this.snapshot);
  }
  async close(): Promise<void> {}
}

test('snapshots carry the place, and sourceInsidePeerPlace finds the wrapped source (writes land there, not on the wrapper)', () => {
  const endpoints = new ListSource({ endpoints: [{ address: '10.0.0.1:1' }] });
  const peers = new ListSource({ endpoints: [{ address: 'a:1', instance: 'b' }, { address: 'a:2', instance: 'a' }] });
  const wrapped = withPeerPlace(endpoints, peers, 'b');
  const seen: EndpointSnapshot[] = [];
  wrapped.start({ onSnapshot: (s) => seen.push(s), onError: () => {} });
  assert.deepEqual(seen.at(-1)?.peers, { index: 1, count: 2 });
  // The wrapper inherits from the source (its class, its other methods), so instanceof alone cannot tell them apart.
  assert.ok(wrapped instanceof ListSource);
  assert.equal(sourceInsidePeerPlace(wrapped), endpoints);
  (sourceInsidePeerPlace(wrapped) as ListSource).note = 'set inside';
  assert.equal(endpoints.note, 'set inside');
  assert.equal(sourceInsidePeerPlace(endpoints), endpoints);
});
