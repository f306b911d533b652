/**
 * The `fairway` command (commander): `resolve`, `watch`, `register`, `trace`, `load`, `config get|set|validate|watch`. Every command takes `--json`. Exit codes
 * are in {@link EXIT}.
 */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { register as registerInEtcd, EtcdOptionsError, getLiveConfig, setLiveConfig, watchLiveConfig, type StoredLiveConfig } from '@fairway/discovery-etcd';
import { incarnationStartMs, parseLiveConfig, type EndpointSnapshot } from '@fairway/core';
import { openSource, firstAnswer, UsageError, UnreachableError, type SourceOptions } from './sources.js';
import { parseDurationMs } from './duration.js';
import { addLoadCommand } from './load/load-command.js';
import { rowsOf, formatTable, formatCounts, diffRows, formatDiff, type EndpointRow } from './table.js';
import { parseTraceId, traceFromFile, traceFromJaeger, buildTraceTree, formatTraceTree } from './trace.js';

/** Exit codes of the `fairway` command. */
export const EXIT = {
  /** Success (for `watch` and `register`: ended by Ctrl-C, SIGTERM or `--timeout`). */
  OK: 0,
  /** An unexpected internal error. */
  INTERNAL: 1,
  /** Usage: unknown command or option, a malformed target or option value. */
  USAGE: 2,
  /** The discovery source (etcd, the Kubernetes API) could not be reached or gave no answer in time. */
  UNREACHABLE: 3,
  /** A command that does not run until a signal (all but `watch`, `register`, `config watch`) was stopped by Ctrl-C or SIGTERM (128 + SIGINT, the shell's convention). */
  INTERRUPTED: 130,
} as const;

/** Where the command writes; the process's streams by default (tests may pass their own). */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Resolves on the first SIGINT/SIGTERM (watch and register end there). */
  readonly interrupted: Promise<NodeJS.Signals>;
}

export { parseDurationMs };

interface CommonOpts {
  json?: boolean;
  etcdEndpoints?: string;
  kubeconfig?: string;
  timeout?: string;
}

function sourceOptions(o: CommonOpts, timeoutMs: number, warn: (m: string) => void): SourceOptions {
  return {
    ...(o.etcdEndpoints !== undefined ? { etcdEndpoints: o.etcdEndpoints } : {}),
    ...(o.kubeconfig !== undefined ? { kubeconfig: o.kubeconfig } : {}),
    dialTimeoutMs: Math.max(200, Math.min(5000, Math.round(timeoutMs * 0.6))),
    warn,
  };
}

const now = () => new Date().toISOString();

async function resolveCommand(target: string, o: CommonOpts, io: CliIo): Promise<number> {
  const timeoutMs = parseDurationMs(o.timeout ?? '5s', '--timeout');
  // Skipped entries (a garbage value, a bad address) are named on stderr, as `watch` names them; stdout keeps the table.
  const opened = await openSource(target, sourceOptions(o, timeoutMs, (m) => io.err(`warning: ${m}\n`)));
  try {
    const snapshot = await firstAnswer(opened, timeoutMs);
    const rows = rowsOf(snapshot, opened.unused?.());
    if (o.json) {
      io.out(
        JSON.stringify({
          target,
          source: opened.kind,
          stale: snapshot.stale === true,
          ...(snapshot.note ? { note: snapshot.note } : {}),
          endpoints: rows,
        }) + '\n',
      );
    } else {
      io.out(`${target} (${opened.kind}): ${formatCounts(rows)}${snapshot.stale ? ` [stale: ${snapshot.note ?? 'source unreachable'}]` : ''}\n`);
      io.out(formatTable(rows) + '\n');
    }
    return EXIT.OK;
  } finally {
    await opened.source.close();
  }
}

async function watchCommand(target: string, o: CommonOpts, io: CliIo): Promise<number> {
  const timeoutMs = o.timeout !== undefined ? parseDurationMs(o.timeout, '--timeout') : undefined;
  const firstTimeoutMs = Math.min(timeoutMs ?? 10_000, 10_000);
  const warn = (m: string) => (o.json ? io.out(JSON.stringify({ time: now(), event: 'warning', message: m }) + '\n') : io.err(`${now()} warning: ${m}\n`));
  const opened = await openSource(target, sourceOptions(o, firstTimeoutMs, warn));
  let previous: EndpointRow[] | undefined;
  let lastSnapshot: EndpointSnapshot | undefined;
  const show = (snapshot: EndpointSnapshot): void => {
    const rows = rowsOf(snapshot, opened.unused?.());
    const diff = previous ? diffRows(previous, rows) : undefined;
    if (o.json) {
      io.out(
        JSON.stringify({
          time: now(),
          event: previous ? 'update' : 'snapshot',
          stale: snapshot.stale === true,
          ...(snapshot.note ? { note: snapshot.note } : {}),
          endpoints: rows,
          ...(diff ? diff : {}),
        }) + '\n',
      );
    } else if (!diff) {
      io.out(`${now()} ${target} (${opened.kind}): ${formatCounts(rows)}\n${formatTable(rows)}\n`);
    } else {
      const lines = formatDiff(diff);
      if (lines.length > 0 || snapshot.stale) {
        io.out(`${now()} ${formatCounts(rows)}${snapshot.stale ? ' [stale]' : ''}\n${lines.map((l) => `  ${l}\n`).join('')}`);
      }
    }
    previous = rows;
  };
  let gotFirst = false;
  let failFirst: (e: Error) => void = () => {};
  const first = new Promise<void>((resolve, reject) => {
    failFirst = reject;
    const timer = setTimeout(() => reject(new UnreachableError(`${opened.kind} source of ${target}: no answer from ${opened.where} within ${firstTimeoutMs} ms`)), firstTimeoutMs);
    // A Pod that is not ready yet (or goes away while not ready) changes no snapshot: shown with the last one.
    opened.onUnusedChange?.(() => {
      if (lastSnapshot !== undefined) show(lastSnapshot);
    });
    opened.source.start({
      onSnapshot(snapshot) {
        clearTimeout(timer);
        gotFirst = true;
        resolve();
        lastSnapshot = snapshot;
        show(snapshot);
      },
      onError(error) {
        if (!gotFirst && error.fatalForNow) {
          clearTimeout(timer);
          reject(new UnreachableError(error.message));
          return;
        }
        warn(error.message);
      },
    });
  });
  try {
    await first;
    if (!o.json) io.err(`watching ${target}; Ctrl-C to stop${timeoutMs !== undefined ? ` (or after ${timeoutMs} ms)` : ''}\n`);
    const ended = await Promise.race([
      io.interrupted.then((s) => s as string),
      ...(timeoutMs !== undefined ? [new Promise<string>((r) => setTimeout(() => r('timeout'), timeoutMs).unref())] : []),
    ]);
    if (o.json) io.out(JSON.stringify({ time: now(), event: 'end', reason: ended }) + '\n');
    return EXIT.OK;
  } finally {
    void failFirst;
    await opened.source.close();
  }
}

interface RegisterOpts {
  json?: boolean;
  service: string;
  address: string;
  zone?: string;
  instance?: string;
  incarnation?: string;
  weight?: string;
  ttl?: string;
  etcdEndpoints?: string;
  timeout?: string;
}

// Number() alone also reads "0x10" (16), "1e1", "Infinity" and "" (0, which would register the endpoint drained).
const PLAIN_DECIMAL = /^\d+(\.\d+)?$/;
const PLAIN_WHOLE_NUMBER = /^\d+$/;

async function registerCommand(o: RegisterOpts, io: CliIo): Promise<number> {
  const dialTimeoutMs = parseDurationMs(o.timeout ?? '5s', '--timeout');
  if (o.weight !== undefined && !PLAIN_DECIMAL.test(o.weight)) {
    throw new UsageError(`--weight ${JSON.stringify(o.weight)}: write a plain decimal number >= 0, e.g. 1, 2 or 0.5 (0 registers it drained)`);
  }
  const weight = o.weight !== undefined ? Number(o.weight) : undefined;
  const ttlSeconds = o.ttl !== undefined ? Number(o.ttl) : undefined;
  if (o.ttl !== undefined && !(PLAIN_WHOLE_NUMBER.test(o.ttl) && ttlSeconds! >= 1)) {
    throw new UsageError(`--ttl ${JSON.stringify(o.ttl)}: must be a whole number of seconds >= 1, e.g. 10`);
  }
  // Incarnations of one instance are ordered by the start time they begin with (compareIncarnations): that is
  // how clients and the registrar know a restart is the newer one. Without it, the registrar cannot tell that
  // a newer start owns the key and would put its own value back over it after a lease loss.
  if (o.incarnation !== undefined && incarnationStartMs(o.incarnation) === undefined) {
    throw new UsageError(
      `--incarnation ${JSON.stringify(o.incarnation)}: write <start time in ms>-<suffix>, e.g. 1764032400123-4f1c (the default is a fresh one): incarnations are ordered by that start time, and one without it cannot be ordered against the others`,
    );
  }
  const log = {
    info: (m: string) => io.err(`${now()} ${m}\n`),
    warn: (m: string) => io.err(`${now()} warning: ${m}\n`),
    error: (m: string) => io.err(`${now()} error: ${m}\n`),
  };
  let registration;
  try {
    registration = await registerInEtcd({
      service: o.service,
      address: o.address,
      ...(o.zone !== undefined ? { zone: o.zone } : {}),
      ...(o.instance !== undefined ? { instance: o.instance } : {}),
      ...(o.incarnation !== undefined ? { incarnation: o.incarnation } : {}),
      ...(weight !== undefined ? { weight } : {}),
      ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
      ...(o.etcdEndpoints !== undefined ? { endpoints: o.etcdEndpoints } : {}),
      dialTimeoutMs,
      logger: log,
    });
  } catch (e) {
    if (e instanceof EtcdOptionsError) throw new UsageError(e.message);
    throw new UnreachableError((e as Error).message);
  }
  const status = registration.status();
  if (o.json) {
    io.out(JSON.stringify({ time: now(), event: 'registered', key: registration.key, value: JSON.parse(registration.value), leaseId: status.leaseId ?? null }) + '\n');
  } else {
    io.out(`registered ${registration.key} = ${registration.value} (lease ${status.leaseId ?? '?'}); Ctrl-C to deregister\n`);
  }
  const signal = await io.interrupted;
  await registration.deregister();
  if (o.json) io.out(JSON.stringify({ time: now(), event: 'deregistered', key: registration.key, reason: signal }) + '\n');
  else io.out(`deregistered ${registration.key} (${signal})\n`);
  return EXIT.OK;
}

interface TraceOpts {
  json?: boolean;
  jaeger?: string;
  file?: string;
  timeout?: string;
}

async function traceCommand(rawId: string, o: TraceOpts, io: CliIo): Promise<number> {
  const traceId = parseTraceId(rawId);
  const jaeger = o.jaeger ?? (o.file === undefined ? process.env['FAIRWAY_JAEGER_URL'] : undefined);
  if ((jaeger === undefined) === (o.file === undefined)) {
    throw new UsageError(
      o.file !== undefined
        ? 'give either --jaeger <url> or --file <file>, not both'
        : 'say where the trace is: --jaeger http://127.0.0.1:16686 (Jaeger\'s query service) or --file traces.json (a Jaeger JSON file)',
    );
  }
  const timeoutMs = parseDurationMs(o.timeout ?? '10s', '--timeout');
  const trace = jaeger !== undefined ? await traceFromJaeger(jaeger, traceId, timeoutMs) : traceFromFile(o.file!, traceId);
  const roots = buildTraceTree(trace);
  if (o.json) io.out(JSON.stringify({ traceId: trace.traceID, source: jaeger !== undefined ? { jaeger } : { file: o.file }, spans: trace.spans.length, roots }) + '\n');
  else io.out(formatTraceTree(trace.traceID, roots).join('\n') + '\n');
  return EXIT.OK;
}

interface ConfigOpts {
  json?: boolean;
  etcdEndpoints?: string;
  prefix?: string;
  timeout?: string;
  file?: string;
}

/** The document text of `set`/`validate`: the argument, or `--file` (`-` = stdin). */
function documentText(arg: string | undefined, o: ConfigOpts): string {
  if (o.file !== undefined) {
    if (arg !== undefined) throw new UsageError('give the document as an argument or with --file, not both');
    try {
      return readFileSync(o.file === '-' ? 0 : o.file, 'utf8');
    } catch (e) {
      throw new UsageError(`--file ${o.file}: ${(e as Error).message}`);
    }
  }
  if (arg === undefined) throw new UsageError('give the document as an argument (JSON) or with --file <path>');
  return arg;
}

function storeOptions(o: ConfigOpts) {
  return {
    ...(o.etcdEndpoints !== undefined ? { endpoints: o.etcdEndpoints } : {}),
    ...(o.prefix !== undefined ? { prefix: o.prefix } : {}),
    dialTimeoutMs: parseDurationMs(o.timeout ?? '5s', '--timeout'),
  };
}

function storedJson(doc: StoredLiveConfig): Record<string, unknown> {
  return {
    key: doc.key,
    revision: doc.revision,
    document: doc.text === undefined ? null : doc.check.ok ? JSON.parse(doc.text) : doc.text,
    valid: doc.check.ok,
    ...(doc.check.ok ? {} : { error: doc.check.error.message, field: doc.check.error.field }),
  };
}

function storedText(doc: StoredLiveConfig): string {
  if (doc.text === undefined) return `${doc.key}: no document (no overrides)\n`;
  const state = doc.check.ok ? 'valid' : `INVALID, clients keep their last good one: ${doc.check.error.message}`;
  return `${doc.key} at revision ${doc.revision} (${state}):\n${doc.text}\n`;
}

async function withEtcd<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof EtcdOptionsError || e instanceof UsageError) throw new UsageError(e.message);
    throw new UnreachableError((e as Error).message);
  }
}

async function configGet(service: string, o: ConfigOpts, io: CliIo): Promise<number> {
  const doc = await withEtcd(() => getLiveConfig(service, storeOptions(o)));
  io.out(o.json ? JSON.stringify(storedJson(doc)) + '\n' : storedText(doc));
  return EXIT.OK;
}

async function configSet(service: string, arg: string | undefined, o: ConfigOpts, io: CliIo): Promise<number> {
  const text = documentText(arg, o);
  const r = await withEtcd(() => setLiveConfig(service, text, storeOptions(o)));
  io.out(o.json ? JSON.stringify({ key: r.key, revision: r.revision, written: true }) + '\n' : `wrote ${r.key} at revision ${r.revision}\n`);
  return EXIT.OK;
}

function configValidate(arg: string | undefined, o: ConfigOpts, io: CliIo): number {
  const r = parseLiveConfig(documentText(arg, o));
  if (o.json) io.out(JSON.stringify(r.ok ? { valid: true } : { valid: false, field: r.error.field, error: r.error.message }) + '\n');
  else io.out(r.ok ? 'valid\n' : `invalid: ${r.error.message}\n`);
  return r.ok ? EXIT.OK : EXIT.USAGE;
}

async function configWatch(service: string, o: ConfigOpts, io: CliIo): Promise<number> {
  const untilMs = o.timeout !== undefined ? parseDurationMs(o.timeout, '--timeout') : undefined;
  const w = await withEtcd(() =>
    watchLiveConfig(service, (doc) => io.out(o.json ? JSON.stringify({ time: now(), ...storedJson(doc) }) + '\n' : `${now()} ${storedText(doc)}`), {
      ...storeOptions({ ...o, timeout: undefined }),
    }),
  );
  const stop = untilMs !== undefined ? new Promise((r) => setTimeout(r, untilMs).unref()) : new Promise(() => undefined);
  await Promise.race([io.interrupted, stop]);
  await w.close();
  return EXIT.OK;
}

/** Builds the commander program; each action stores its exit code in `result.code`. */
export function createProgram(io: CliIo, result: { code: number }): Command {
  const program = new Command('fairway');
  const run = (fn: () => Promise<number>) => async () => {
    result.code = await fn();
  };
  program
    .description("Fairway's command line: see where a target's traffic can go, register endpoints in etcd, read a trace.")
    .version('0.1.0')
    .showHelpAfterError('(run "fairway --help" for usage)')
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .exitOverride()
    .addHelpText(
      'after',
      `
Targets: static:///10.0.0.1:50051@zone-a,10.0.0.2:50051   etcd:///pricer   etcd://127.0.0.1:2379/pricer
         k8s:///pricer.trading:grpc
Traces:  fairway trace 4bf92f3577b34da6a3ce929d0e0e4736 --jaeger http://127.0.0.1:16686   (or --file traces.json)
Exit codes: 0 ok (watch/register: ended by Ctrl-C, SIGTERM or --timeout), 1 internal error,
            2 usage error, malformed target or unknown trace, 3 discovery source or Jaeger unreachable or no answer in time,
            130 any other command stopped by Ctrl-C or SIGTERM.`,
    );

  const etcdOption = () => new Option('--etcd-endpoints <list>', 'etcd endpoints, comma-separated (default: the target, then FAIRWAY_ETCD_ENDPOINTS)');
  program
    .command('resolve')
    .description('print the live endpoint table of a target: address, zone, instance, incarnation, weight, state')
    .argument('<target>', 'e.g. etcd:///pricer or k8s:///pricer.trading:grpc')
    .option('--json', 'print one JSON object')
    .addOption(etcdOption())
    .option('--kubeconfig <file>', 'kubeconfig for k8s: targets (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)')
    .option('--timeout <duration>', 'how long to wait for the source (default 5s)')
    .action((target: string, o: CommonOpts) => run(() => resolveCommand(target, o, io))());

  program
    .command('watch')
    .description('print the endpoint table, then every change, until Ctrl-C or --timeout')
    .argument('<target>', 'e.g. etcd:///pricer or k8s:///pricer.trading:grpc')
    .option('--json', 'print one JSON object per line (snapshot, update, warning, end)')
    .addOption(etcdOption())
    .option('--kubeconfig <file>', 'kubeconfig for k8s: targets')
    .option('--timeout <duration>', 'stop after this long (default: run until Ctrl-C)')
    .action((target: string, o: CommonOpts) => run(() => watchCommand(target, o, io))());

  program
    .command('register')
    .description('register an endpoint in etcd under a lease until Ctrl-C (then deregister)')
    .requiredOption('--service <name>', 'service name, e.g. pricer (what etcd:///pricer resolves)')
    .requiredOption('--address <host:port>', 'address clients connect to')
    .option('--zone <zone>', 'zone of the endpoint, e.g. eu-west-1a')
    .option('--instance <name>', 'stable instance name, the last part of the key (default: the host name)')
    .option('--incarnation <id>', 'incarnation, <start ms>-<suffix>: ordered by that start time (default: a fresh <start ms>-<hex>)')
    .option('--weight <n>', 'relative capacity, a decimal number (default 1; 0 = drained: discovered but given no new calls)')
    .option('--ttl <seconds>', 'lease TTL in seconds (default 10)')
    .option('--json', 'print JSON lines (registered, deregistered)')
    .addOption(etcdOption())
    .option('--timeout <duration>', 'how long to wait for etcd (default 5s)')
    .action((o: RegisterOpts) => run(() => registerCommand(o, io))());

  program
    .command('trace')
    .description("print one trace as a tree: each call, each attempt's pod, zone, pick reason and retry reason")
    .argument('<trace-id>', 'the trace id (up to 32 hex digits: Jaeger shows it without leading zeros), e.g. from Jaeger or a log line')
    .option('--jaeger <url>', "Jaeger's query service, e.g. http://127.0.0.1:16686 (default: FAIRWAY_JAEGER_URL)")
    .option('--file <file>', 'a Jaeger JSON trace file (what the demo and JaegerJsonFileExporter write)')
    .option('--json', 'print one JSON object: the span tree')
    .option('--timeout <duration>', 'how long to wait for Jaeger (default 10s)')
    .action((id: string, o: TraceOpts) => run(() => traceCommand(id, o, io))());

  addLoadCommand(program, run, io);

  const config = program
    .command('config')
    .description('the live configuration document of a service in etcd (<prefix>_fairway_config/<service>): weight overrides and drains, balancer, retry and canary settings');
  const prefixOption = () => new Option('--prefix <prefix>', 'etcd key prefix the clients use (default none)');
  config
    .command('get')
    .description('print the document and whether it is valid')
    .argument('<service>', 'e.g. pricer')
    .option('--json', 'print one JSON object')
    .addOption(etcdOption())
    .addOption(prefixOption())
    .option('--timeout <duration>', 'how long to wait for etcd (default 5s)')
    .action((service: string, o: ConfigOpts) => run(() => configGet(service, o, io))());
  config
    .command('set')
    .description('validate a document, then write it (an invalid one is refused naming the field: exit 2)')
    .argument('<service>', 'e.g. pricer')
    .argument('[document]', 'the JSON document, e.g. \'{"version":1,"endpoints":{"pricer-1":{"weight":0}}}\'')
    .option('--file <path>', 'read the document from a file (- for stdin)')
    .option('--json', 'print one JSON object')
    .addOption(etcdOption())
    .addOption(prefixOption())
    .option('--timeout <duration>', 'how long to wait for etcd (default 5s)')
    .action((service: string, doc: string | undefined, o: ConfigOpts) => run(() => configSet(service, doc, o, io))());
  config
    .command('validate')
    .description('check a document without etcd: exit 0 when valid, 2 naming the field when not')
    .argument('[document]', 'the JSON document')
    .option('--file <path>', 'read the document from a file (- for stdin)')
    .option('--json', 'print one JSON object')
    .action((doc: string | undefined, o: ConfigOpts) => run(async () => configValidate(doc, o, io))());
  config
    .command('watch')
    .description('print the document, then every change, until Ctrl-C or --timeout')
    .argument('<service>', 'e.g. pricer')
    .option('--json', 'print one JSON object per line')
    .addOption(etcdOption())
    .addOption(prefixOption())
    .option('--timeout <duration>', 'stop after this long (default: run until Ctrl-C)')
    .action((service: string, o: ConfigOpts) => run(() => configWatch(service, o, io))());

  return program;
}

/** Runs the command line `argv` (without `node` and the script); resolves with the exit code. */
/** The libraries' errors name their options; on the command line the flags that set them are what to name. */
function inCliTerms(message: string): string {
  return message
    .replace(/in the option discovery\.etcd\.endpoints/g, 'with --etcd-endpoints')
    .replace(/no apiServerUrl\/kubeconfigPath option/g, 'no --kubeconfig');
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const result = { code: EXIT.OK as number };
  const program = createProgram(io, result);
  // Help shown because no command was given goes to stderr (commander's `error` context); asked-for help
  // (`--help`, `help [command]`) to stdout. Told apart here, not by commander's exit code, which follows
  // process.exitCode when that is set.
  let helpForMissingCommand = false;
  program.on('beforeAllHelp', (context: { error: boolean }) => (helpForMissingCommand = context.error));
  const json = argv.includes('--json');
  const fail = (code: number, libraryMessage: string) => {
    const message = inCliTerms(libraryMessage);
    if (json) io.out(JSON.stringify({ error: message, exitCode: code }) + '\n');
    io.err(`fairway: ${message}\n`);
    return code;
  };
  try {
    const parsing = program.parseAsync([...argv], { from: 'user' });
    // watch, register and config watch run until a signal and end there themselves; any other command is stopped
    // by one (before, `resolve` against an unreachable source and `load` ran to their end whatever Ctrl-C said).
    const runsUntilSignal = argv[0] === 'watch' || argv[0] === 'register' || (argv[0] === 'config' && argv[1] === 'watch');
    if (runsUntilSignal) await parsing;
    else {
      const signal = await Promise.race([parsing.then(() => undefined), io.interrupted]);
      if (signal !== undefined) {
        parsing.catch(() => {}); // what it does after the signal no longer matters
        return fail(EXIT.INTERRUPTED, `interrupted by ${signal}`);
      }
    }
    return result.code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // A missing command (bare `fairway`, `fairway config`) ends as 'commander.help' with its help on stderr:
      // a usage error. `--help` and `help [command]` end as 'commander.helpDisplayed' or 'commander.help'.
      if (e.code === 'commander.help') return helpForMissingCommand ? EXIT.USAGE : EXIT.OK;
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT.OK;
      if (e.exitCode === 0) return EXIT.OK;
      // commander has printed the message on stderr; with --json stdout still gets the error object.
      if (json) io.out(JSON.stringify({ error: e.message.replace(/^error: /, ''), exitCode: EXIT.USAGE }) + '\n');
      return EXIT.USAGE;
    }
    if (e instanceof UsageError) return fail(EXIT.USAGE, e.message);
    if (e instanceof UnreachableError) return fail(EXIT.UNREACHABLE, e.message);
    return fail(EXIT.INTERNAL, (e as Error).stack ?? String(e));
  }
}
