/**
 * Every import from grpc-js that is not part of its documented root API lives here, so an upgrade of
 * grpc-js has one file to check. Types from `build/src/...` are not exported by the package root; the
 * `experimental` namespace is re-exported under short names.
 */
import { experimental } from '@grpc/grpc-js';
export type { OnCallEnded, PickResult, PickArgs, Picker } from '@grpc/grpc-js/build/src/picker.js';
export type { ResolverListener, Resolver } from '@grpc/grpc-js/build/src/resolver.js';
export type { ChannelControlHelper, LoadBalancer, TypedLoadBalancingConfig } from '@grpc/grpc-js/build/src/load-balancer.js';
export type { Endpoint, SubchannelAddress } from '@grpc/grpc-js/build/src/subchannel-address.js';
export type { GrpcUri } from '@grpc/grpc-js/build/src/uri-parser.js';
export type { StatusOr } from '@grpc/grpc-js/build/src/call-interface.js';
/** What `Channel.createCall` returns: one call with serialized messages (the carried call layer implements it). */
export type { Call as RawCall, MessageContext } from '@grpc/grpc-js/build/src/call-interface.js';
export type { AuthContext } from '@grpc/grpc-js/build/src/auth-context.js';
/** A subchannel as the channel helper hands it to a policy (used by the health watch, gRFC A17). */
export type { SubchannelInterface as SubchannelLike } from '@grpc/grpc-js/build/src/subchannel-interface.js';
/** A call on one subchannel's transport: raw gRPC frames in and out. */
export type { SubchannelCall as SubchannelCallLike } from '@grpc/grpc-js/build/src/subchannel-call.js';

export const {
  registerResolver,
  registerLoadBalancerType,
  isLoadBalancerNameRegistered,
  createChildChannelControlHelper,
  LeafLoadBalancer,
  QueuePicker,
  UnavailablePicker,
  PickResultType,
  subchannelAddressToString,
  statusOrFromValue,
  statusOrFromError,
  uriToString,
} = experimental;

/** Channel-option and attribute keys with this prefix are not passed to subchannels (no effect on reuse). */
export const NO_SUBCHANNEL_PREFIX = 'grpc.internal.no_subchannel.';

/**
 * One live HTTP/2 connection of a subchannel, reached through grpc-js 1.14's private fields (`Subchannel.transport`,
 * `Http2Transport.session`, `.activeCalls`, `.messagesReceived`, `.streamTracker`, `.handleDisconnect`). Fairway's
 * keepalive pinger needs to send a ping and to see whether the server wrote anything; grpc-js offers neither.
 * `isLiveConnectionSupported()` checks the shape once; each accessor checks again and returns undefined when a
 * field is missing, so a grpc-js change turns the pinger off (logged) instead of breaking calls.
 */
export interface LiveConnection {
  /** Identity of the connection (the grpc-js transport object). */
  readonly key: object;
  readonly closed: boolean;
  /** Calls outstanding on this connection. */
  activeCalls(): number;
  /** Messages received plus streams the server ended with trailers: grows whenever the server wrote. */
  serverWrites(): number;
  /** Sends an HTTP/2 PING; `onAck` runs when the answer arrives (not on error). False if it could not be sent. */
  ping(onAck: () => void): boolean;
  /** Drops the connection the way grpc-js's own keepalive timeout does: its calls end UNAVAILABLE. */
  disconnect(): void;
}

interface TransportShape {
  session?: { closed: boolean; destroyed: boolean; ping(cb: (err: Error | null) => void): boolean };
  activeCalls?: Set<unknown>;
  messagesReceived?: number;
  streamTracker?: { callsSucceeded?: number };
  handleDisconnect?: () => void;
}

/** The connection a subchannel currently uses, if it is connected and has the expected shape. */
export function liveConnectionOf(subchannel: { getRealSubchannel(): unknown }): LiveConnection | undefined {
  const real = subchannel.getRealSubchannel() as { transport?: TransportShape | null } | undefined;
  const t = real?.transport;
  if (!t || !t.session || !(t.activeCalls instanceof Set) || typeof t.handleDisconnect !== 'function') return undefined;
  const session = t.session;
  return {
    key: t,
    get closed() {
      return session.closed || session.destroyed;
    },
    activeCalls: () => t.activeCalls!.size,
    serverWrites: () => (t.messagesReceived ?? 0) + (t.streamTracker?.callsSucceeded ?? 0),
    ping(onAck) {
      try {
        return session.ping((err) => {
          if (!err) onAck();
        });
      } catch {
        return false;
      }
    },
    disconnect: () => t.handleDisconnect!.call(t),
  };
}
