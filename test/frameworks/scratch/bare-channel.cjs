// Issue 19 item 2 from the packed dist, CommonJS: bare-channel-check.cjs with fairway-grpc's CommonJS build
// (bare-channel.mjs does the same with its ESM build).
const { createChannel } = require('fairway-grpc');
const { checkBareChannel } = require('./bare-channel-check.cjs');

checkBareChannel(createChannel).catch((err) => {
  console.error(err);
  process.exit(1);
});
