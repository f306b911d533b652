import type { SubchannelAddress } from '../grpc-internals.js';

/** `host:port` or `[v6]:port` -> grpc-js `SubchannelAddress`. The address was validated by the source. */
export function toSubchannelAddress(address: string): SubchannelAddress {
  if (address.startsWith('[')) {
    const close = address.indexOf(']');
    return { host: address.slice(1, close), port: Number(address.slice(close + 2)) };
  }
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}
