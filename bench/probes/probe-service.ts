/** The probe's service: one unary method on raw bytes (no protobuf cost, identical for every variant). */
import * as grpc from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;

export const PROBE_SERVICE = {
  call: {
    path: '/fairway.probe.Probe/Call',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
    originalName: 'call',
  },
} satisfies grpc.ServiceDefinition;

export const ProbeClient = grpc.makeGenericClientConstructor(PROBE_SERVICE, 'Probe');
