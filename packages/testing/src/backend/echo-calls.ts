/** Promise helpers to call an Echo client and account for every call (a reply or a status). */
import { Metadata } from '@grpc/grpc-js';
import type { Client, ServiceError } from '@grpc/grpc-js';
import type { EchoReply, EchoRequest } from './echo-proto.js';

/** How one call ended: a reply, or an error status. */
export type EchoResult = { ok: true; reply: EchoReply; ms: number } | { ok: false; code: number; details: string; ms: number };

export interface UnaryCallOptions {
  /** Deadline from now, ms. Default none. */
  readonly deadlineMs?: number;
  readonly metadata?: Metadata;
}

type UnaryFn = (req: EchoRequest, md: Metadata, opts: object, cb: (e: ServiceError | null, r?: EchoReply) => void) => unknown;

/** One unary `Echo/Unary` call; never rejects. */
export function echoUnary(client: Client, request: EchoRequest = {}, options: UnaryCallOptions = {}): Promise<EchoResult> {
  const started = performance.now();
  const fn = (client as unknown as { Unary: UnaryFn }).Unary.bind(client);
  return new Promise((resolve) => {
    fn(
      request,
      options.metadata ?? new Metadata(),
      options.deadlineMs !== undefined ? { deadline: Date.now() + options.deadlineMs } : {},
      (err, reply) => {
        const ms = performance.now() - started;
        if (err) resolve({ ok: false, code: err.code ?? -1, details: err.details ?? err.message, ms });
        else resolve({ ok: true, reply: reply!, ms });
      },
    );
  });
}

export interface LoadOptions {
  /** Total calls. */
  readonly calls: number;
  /** Calls in flight at once. */
  readonly concurrency: number;
  readonly request?: EchoRequest;
  readonly deadlineMs?: number;
  /** Stop issuing new calls when this returns true (checked before each call). */
  readonly stopWhen?: () => boolean;
  /** Called with each result as it arrives. */
  readonly onResult?: (r: EchoResult, index: number) => void;
}

/** Runs `calls` unary calls `concurrency` at a time; resolves with every result, in issue order. */
export async function runEchoLoad(client: Client, options: LoadOptions): Promise<EchoResult[]> {
  const results: EchoResult[] = [];
  let next = 0;
  const worker = async () => {
    while (next < options.calls && !(options.stopWhen?.() ?? false)) {
      const i = next++;
      const r = await echoUnary(client, options.request ?? {}, options.deadlineMs !== undefined ? { deadlineMs: options.deadlineMs } : {});
      results[i] = r;
      options.onResult?.(r, i);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return results.filter((r) => r !== undefined);
}

/** Counts results by the answering server id (errors under `status <code>`). */
export function countByServer(results: readonly EchoResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) {
    const k = r.ok ? r.reply.server_id : `status ${r.code}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
