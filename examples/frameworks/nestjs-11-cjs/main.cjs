// NestJS 11 (CommonJS) gRPC clients balanced by Fairway: the one line is `channelOptions: clientOptions({...})`,
// in ClientsModule.register and in ClientProxyFactory.create alike.
// Runs as copied together with ../shared/echo-fixture.cjs (the Echo service and servers standing in for yours):
// `npm install fairway-grpc @grpc/grpc-js @grpc/proto-loader @nestjs/microservices@11 @nestjs/core@11
// @nestjs/common@11 reflect-metadata rxjs @opentelemetry/sdk-trace-base`, then `node main.cjs`.
// Three Echo servers on loopback, one slow; prints one JSON line: who answered, attempts per server, retries.
require('reflect-metadata');
const grpc = require('@grpc/grpc-js');
const { Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { ClientsModule, ClientProxyFactory, Transport } = require('@nestjs/microservices');
const { firstValueFrom } = require('rxjs');
const { clientOptions, createTelemetryObserver } = require('fairway-grpc');
const fixture = require('../shared/echo-fixture.cjs');

const spans = fixture.recordSpans();

/** Echo.Say through a Nest gRPC service (an Observable per call). */
const sayWith = (echo) => (text) => firstValueFrom(echo.say({ text }, new grpc.Metadata(), { deadline: Date.now() + 5000 }));

async function main() {
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

main().catch((err) => {
  console.error(err);
  process.exit(1); // the servers would keep the process alive
});
