// Issue 19 item 2 from the packed dist, ESM: bare-channel-check.cjs with fairway-grpc's ESM build
// (bare-channel.cjs does the same with its CommonJS build).
import { createChannel } from 'fairway-grpc';
import check from './bare-channel-check.cjs';

check.checkBareChannel(createChannel).catch((err) => {
  console.error(err);
  process.exit(1);
});
