/**
 * `@fairway/cli`: the `fairway` command. `fairway resolve <target>` prints the live endpoint table,
 * `fairway watch <target>` streams changes, `fairway register --service S --address A --zone Z` registers an
 * endpoint in etcd until Ctrl-C, `fairway trace <id> --jaeger URL | --file F` prints one trace as a tree of calls
 * and attempts (pod, zone, pick reason, retry reason). `--json` on every command. Exit codes: {@link EXIT}.
 *
 * @packageDocumentation
 */
export { runCli, createProgram, parseDurationMs, EXIT } from './cli.js';
export type { CliIo } from './cli.js';
export { openSource, firstAnswer, UsageError, UnreachableError, CLI_SCHEMES } from './sources.js';
export type { SourceOptions, OpenedSource } from './sources.js';
export { parseTraceId, pickTrace, traceFromFile, traceFromJaeger, buildTraceTree, formatTraceTree } from './trace.js';
export type { TraceDocument, TraceSpan, TraceTag, TraceNode } from './trace.js';
export { rowsOf, formatTable, formatCounts, diffRows, formatDiff, balancerRowsOf, formatBalancerTable } from './table.js';
export type { EndpointRow, EndpointState, SnapshotDiff, BalancerRow, UnusedEndpoint } from './table.js';
export { loadCommand, formatRun, formatComparison } from './load/load-command.js';
export { runLoad, checkComparePolicy } from './load/run-load.js';
export type { LoadRunOptions, LoadRunReport, LoadShape, LoadPolicy, LoadProgress } from './load/run-load.js';
export { loadMethod } from './load/proto-method.js';
export type { LoadMethod } from './load/proto-method.js';
export type { LatencySummary, ShareRow } from './load/recorder.js';
