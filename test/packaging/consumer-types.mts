// Type-checks against the built declarations of `fairway` (import).
import { createClient, clientOptions, type FairwayOptions } from 'fairway-grpc';
import { credentials, Client, type ClientOptions } from '@grpc/grpc-js';

class PricerClient extends Client {}
const options: FairwayOptions = { zone: 'eu-west-1a', decayMs: 10_000, keepalive: { timeMs: 10_000 } };
const client: PricerClient = createClient(PricerClient, 'static:///127.0.0.1:50051', credentials.createInsecure(), options);
const opts: ClientOptions = clientOptions({ zone: 'a' });
void client;
void opts;
