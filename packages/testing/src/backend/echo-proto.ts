/** Loads `proto/fairway/test/echo.proto` (the shared test service) with @grpc/proto-loader. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import { loadPackageDefinition } from '@grpc/grpc-js';
import type { GrpcObject, ServiceClientConstructor, ServiceDefinition } from '@grpc/grpc-js';

const here = typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url));

/** Absolute path of `echo.proto`, found by walking up from this file to the repository's `proto/`. */
export function echoProtoPath(): string {
  let dir = here;
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, 'proto', 'fairway', 'test', 'echo.proto');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`echo.proto not found above ${here}`);
}

export interface EchoRequest {
  message?: string;
  delay_ms?: number;
  fail_code?: number;
  count?: number;
}

export interface EchoReply {
  message: string;
  server_id: string;
  zone: string;
  call_number: number;
  sequence: number;
  address: string;
  peer: string;
}

let cached: { EchoClient: ServiceClientConstructor; service: ServiceDefinition } | undefined;

/** The Echo client class (a proto-loader client) and service definition. */
export function loadEcho(): { EchoClient: ServiceClientConstructor; service: ServiceDefinition } {
  if (cached) return cached;
  const def = protoLoader.loadSync(echoProtoPath(), { keepCase: true, longs: Number, defaults: true, enums: String });
  const pkg = loadPackageDefinition(def) as GrpcObject;
  const EchoClient = ((pkg['fairway'] as GrpcObject)['test'] as GrpcObject)['Echo'] as ServiceClientConstructor;
  cached = { EchoClient, service: EchoClient.service };
  return cached;
}
