// Issue 19 item 2, the part bare-channel.cjs and bare-channel.mjs share: a client made with a bare
// { channelOverride: channel } on a Fairway channel with retry and observers gets both. Two servers, one frozen
// (3 s) against a 100 ms attempt timeout; prints one JSON line: calls observed, attempts that timed out on the
// frozen server, retries answered by the fast one, and who answered. It takes `createChannel` from its caller so
// that each caller tests the fairway-grpc build its module system loads (dist/index.cjs or dist/index.js); it
// loads nothing of Fairway itself. The test copies it, the callers and ../shared/echo-fixture.cjs (from
// examples/frameworks/shared) into the scratch project.
const grpc = require('@grpc/grpc-js');
const { Echo, startServer } = require('../shared/echo-fixture.cjs');

/** Runs the check with fairway-grpc's `createChannel` as the caller loaded it. */
async function checkBareChannel(createChannel) {
  const servers = await Promise.all([startServer('fast', 0), startServer('frozen', 3000)]);
  const nameOf = Object.fromEntries(servers.map((s) => [s.address, s.name]));
  const seen = { calls: 0, timedOutOnFrozen: 0, retriedOnFast: 0 };
  const observer = {
    onCallStart() {
      seen.calls += 1;
      return {
        onAttemptStart(attempt) {
          let address;
          return {
            onPick: (pick) => void (address = pick.address),
            outgoingHeaders: () => ({}),
            onEnd: (outcome) => {
              if (outcome.timedOut && nameOf[address] === 'frozen') seen.timedOutOnFrozen += 1;
              if (attempt >= 2 && !outcome.timedOut && nameOf[address] === 'fast') seen.retriedOnFast += 1;
            },
          };
        },
        onEnd() {},
      };
    },
  };
  const target = `static:///${servers.map((s) => s.address).join(',')}`;
  const channel = createChannel(target, grpc.credentials.createInsecure(), { zone: 'z', retry: { attemptTimeoutMs: 100 }, observers: [observer] });
  const bare = new Echo(target, grpc.credentials.createInsecure(), { channelOverride: channel });
  const answered = {};
  for (let i = 0; i < 40 && (i < 10 || seen.retriedOnFast === 0); i++) {
    const reply = await new Promise((resolve, reject) =>
      bare.Say({ text: `m${i}` }, { deadline: Date.now() + 5000 }, (err, r) => (err ? reject(err) : resolve(r))),
    );
    answered[reply.server] = (answered[reply.server] ?? 0) + 1;
  }
  console.log(JSON.stringify({ ...seen, answered }));
  bare.close();
  channel.close();
  for (const s of servers) s.server.forceShutdown();
}

module.exports = { checkBareChannel };
