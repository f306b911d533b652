/**
 * `npm run demo -- --jaeger`: after the run, finds in the real Jaeger one quote's trace that spans the driver,
 * a pricer and a publisher, and says where to read it (Jaeger's query API, `fairway trace`), since the Jaeger
 * built from its Go module has no UI.
 */
import type { Jaeger, JaegerApiTrace } from '@fairway/testing';

/** The services a full quote passes through. */
export const QUOTE_SERVICES = ['quote-driver', 'pricer', 'publisher'] as const;

/** Services of a trace, sorted. */
export function servicesOf(trace: JaegerApiTrace): string[] {
  return [...new Set(trace.spans.map((s) => trace.processes[s.processID]?.serviceName ?? '?'))].sort();
}

/** Fairway attempt spans of a trace (spans with a `fairway.attempt` tag). */
export function attemptSpans(trace: JaegerApiTrace) {
  return trace.spans.filter((s) => s.tags.some((t) => t.key === 'fairway.attempt'));
}

/**
 * Waits (up to `timeoutMs`) until Jaeger holds a trace of the driver that reaches a pricer and a publisher, and
 * returns the one with the most spans, or undefined.
 */
export async function findQuoteTrace(jaeger: Jaeger, timeoutMs = 15_000): Promise<JaegerApiTrace | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const traces = await jaeger.findTraces({ service: 'quote-driver', limit: 200 }).catch(() => []);
    const full = traces.filter((t) => QUOTE_SERVICES.every((s) => servicesOf(t).includes(s)) && attemptSpans(t).length > 0);
    if (full.length > 0) return full.sort((a, b) => b.spans.length - a.spans.length)[0];
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The lines the demo prints about the traces it sent to Jaeger. */
export async function describeJaegerTraces(jaeger: Jaeger): Promise<string[]> {
  const services = await jaeger.services();
  const trace = await findQuoteTrace(jaeger);
  const q = jaeger.queryUrl;
  const lines = [`Traces: in Jaeger ${jaeger.version} on ${q}; services: ${services.join(', ') || '(none yet)'}`];
  lines.push(`        list them:  curl -s '${q}/api/traces?service=quote-driver&limit=20'`);
  if (trace) {
    lines.push(
      `        one quote across ${servicesOf(trace).join(', ')} (${trace.spans.length} spans, ${attemptSpans(trace).length} attempt(s)):`,
      `          npx fairway trace ${trace.traceID} --jaeger ${q}`,
      `          curl -s ${q}/api/traces/${trace.traceID}`,
    );
  } else {
    lines.push('        (no trace reaching driver, pricer and publisher arrived within 15 s)');
  }
  lines.push(`        No UI: Jaeger built from its Go module serves only a placeholder page at ${q}/ (its UI is built from a separate repository).`);
  return lines;
}
