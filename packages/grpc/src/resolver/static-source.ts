/** The built-in `static:///host:port[@zone],...` discovery source (the source itself lives in `@fairway/core`). */
import { createStaticSourceFactory } from '@fairway/core';
import type { DiscoverySourceFactory } from '@fairway/core';
import { later } from '../clock.js';

/** Makes a source that reports the target's fixed endpoint list (validated: throws `TargetError`). */
export const createStaticSource: DiscoverySourceFactory = createStaticSourceFactory(later);
