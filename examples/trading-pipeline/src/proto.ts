/**
 * Loads `proto/trading/v1/trading.proto` at run time with `@grpc/proto-loader` and gives typed handles on its
 * three services and messages.
 */
import { fileURLToPath } from 'node:url';
import { loadSync } from '@grpc/proto-loader';
import { loadPackageDefinition, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';

/** Path of the pipeline's proto file. */
export const PROTO_PATH = fileURLToPath(new URL('../proto/trading/v1/trading.proto', import.meta.url));

export interface SubscribeRequest {
  subscriber: string;
  incarnation: string;
  symbols: string[];
}
export interface Tick {
  symbol: string;
  bid: number;
  ask: number;
  seq: number;
  timeUnixMs: number;
}
export interface QuoteRequest {
  symbol: string;
  quantity: number;
  side: string;
  requestId: number;
}
export interface QuoteReply {
  symbol: string;
  price: number;
  tickSeq: number;
  pod: string;
  zone: string;
  incarnation: string;
  inFlight: number;
  publisherPod: string;
  publisherZone: string;
}
export interface PublishRequest {
  symbol: string;
  price: number;
  pricer: string;
}
export interface PublishReply {
  pod: string;
  zone: string;
  sequence: number;
}

export interface TradingProto {
  PriceFeed: ServiceClientConstructor;
  Pricer: ServiceClientConstructor;
  Publisher: ServiceClientConstructor;
}

let cached: TradingProto | undefined;

/** The generated client constructors (each has `.service`, the definition a server adds). */
export function loadTradingProto(): TradingProto {
  if (cached) return cached;
  const definition = loadSync(PROTO_PATH, {
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const root = loadPackageDefinition(definition) as unknown as {
    trading: { v1: TradingProto };
  };
  cached = root.trading.v1;
  return cached;
}

/** The service definition of a loaded client constructor. */
export function serviceOf(ctor: ServiceClientConstructor): ServiceDefinition {
  return ctor.service;
}
