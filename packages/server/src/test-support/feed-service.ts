/** A JSON-over-gRPC feed service for the takeover tests: a server stream and a bidi stream. */
import { makeGenericClientConstructor } from '@grpc/grpc-js';
import type { ServiceDefinition } from '@grpc/grpc-js';

const ser = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const des = (b: Buffer): unknown => JSON.parse(b.toString('utf8'));

function method(name: string, requestStream: boolean, responseStream: boolean) {
  return {
    path: `/fairway.test.Feed/${name}`,
    requestStream,
    responseStream,
    requestSerialize: ser,
    requestDeserialize: des,
    responseSerialize: ser,
    responseDeserialize: des,
    originalName: name.toLowerCase(),
  };
}

export const feedService = {
  watch: method('Watch', false, true),
  chat: method('Chat', true, true),
  upload: method('Upload', true, false),
} satisfies ServiceDefinition;

export const FeedClient = makeGenericClientConstructor(feedService, 'fairway.test.Feed');
