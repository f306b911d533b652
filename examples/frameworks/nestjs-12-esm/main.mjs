// NestJS 12 (ESM) gRPC clients balanced by Fairway: the one line is `channelOptions: clientOptions({...})`,
// in ClientsModule.register and in ClientProxyFactory.create alike.
// Runs as copied together with ../shared/echo-fixture.cjs (the Echo service and servers standing in for yours):
// `npm install fairway-grpc @grpc/grpc-js @grpc/proto-loader @nestjs/microservices@12 @nestjs/core@12
// @nestjs/common@12 reflect-metadata rxjs @opentelemetry/sdk-trace-base`, then `node main.mjs`.
// Three Echo servers on loopback, one slow; prints one JSON line: who answered, attempts per server, retries.
import 'reflect-metadata';
import * as grpc from '@grpc/grpc-js';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientsModule, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { clientOptions, createTelemetryObserver } from 'fairway-grpc';
import fixture from '../shared/echo-fixture.cjs';

const spans = fixture.recordSpans();

/** Echo.Say through a Nest gRPC service (an Observable per call). */
const sayWith = (echo) => (text) => firstValueFrom(echo.say({ text }, new grpc.Metadata(), { deadline: Date.now() + 5000 }));

{
  const fleet = await fixture.startServers();
  const grpcOptions = {
    package: 'demo',
    packageDefinition: fixture.packageDefinition,
    url: fleet.target,
    // The one line: Fairway balancing, a 100 ms attempt timeout that retries on another server, a span per attempt.
    channelOptions: clientOptions({ retry: { attemptTimeoutMs: 100 }, observers: [createTelemetryObserver()] }),
  };

  class AppModule {}
  Module({ imports: [ClientsModule.register([{ name: 'ECHO', transport: Transport.GRPC, options: grpcOptions }])] })(AppModule);
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const viaModule = await fixture.exercise(sayWith(app.get('ECHO').getService('Echo')), fleet, spans);

  const proxy = ClientProxyFactory.create({ transport: Transport.GRPC, options: { ...grpcOptions, channelOptions: clientOptions({ retry: { attemptTimeoutMs: 100 }, observers: [createTelemetryObserver()] }) } });
  const viaFactory = await fixture.exercise(sayWith(proxy.getService('Echo')), fleet, spans);

  console.log(JSON.stringify({ clientsModule: viaModule, clientProxyFactory: viaFactory }));
  proxy.close();
  await app.close();
  fleet.shutdown();
}
