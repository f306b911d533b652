/** Test-only: the environment the telemetry tests' child processes start from, and a port nothing answers on. */
import { startRefusingEndpoint } from '@fairway/testing';

/**
 * This process's environment without the variables whose names start with one of `prefixes` (e.g. `OTEL_`):
 * a child then sees exactly the variables its test passes, whatever the shell that runs the tests has set.
 */
export function parentEnvWithout(...prefixes: string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!prefixes.some((p) => k.startsWith(p))) env[k] = v;
  return env;
}

/**
 * A loopback port where a collector that is down would be: held by this test process for its whole life (the
 * kernel chose it: port 0) and resetting every connection, so no other process can take it meanwhile, as it
 * could a port bound, read and released.
 */
export async function closedPort(): Promise<number> {
  return (await startRefusingEndpoint()).port;
}
