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
