// Type-checked (tsc, module node16, skipLibCheck off) in a scratch project with the DEFAULT install only: the
// declarations of fairway-grpc must not need @fairway/telemetry-setup, @fairway/discovery-kubernetes or the SDK.
import { credentials, type Client } from '@grpc/grpc-js';
import { createClient, createChannel, clientOptions, setupTelemetry, MissingPackageError, createTelemetryObserver, type SetupTelemetryOptions } from 'fairway-grpc';
declare const Echo: new (address: string, creds: ReturnType<typeof credentials.createInsecure>, options?: object) => Client;
const options: SetupTelemetryOptions = { serviceName: 'x', exporter: 'otlp-http-json' };
const channel = createChannel('static:///127.0.0.1:1', credentials.createInsecure(), { observers: [createTelemetryObserver()] });
const a = createClient(Echo, 'etcd:///pricer', credentials.createInsecure(), { zone: 'z' });
const b = new Echo('static:///127.0.0.1:1', credentials.createInsecure(), clientOptions(channel));
try { setupTelemetry(options); } catch (e) { if (e instanceof MissingPackageError) console.log(e.installCommand); }
void a; void b;
