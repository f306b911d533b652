/** A JSON-over-gRPC feed service for the takeover tests: a server stream and a bidi stream. */
import { defineJsonService } from '@fairway/testing';

const feed = defineJsonService('fairway.test.Feed', {
  watch: 'server-stream',
  chat: 'bidi',
  upload: 'client-stream',
});

export const feedService = feed.definition;

export const FeedClient = feed.Client;
