/** Test-only: the environment the telemetry tests' child processes start from, and a port nothing listens on. */
import { createServer } from 'node:net';

/**
 * This process's environment without the variables whose names start with one of `prefixes` (e.g. `OTEL_`):
 * a child then sees exactly the variables its test passes, whatever the shell that runs the tests has set.
 */
export function parentEnvWithout(...prefixes: string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!prefixes.some((p) => k.startsWith(p))) env[k] = v;
  return env;
}

/** A loopback port nothing listens on (bound, read, released): where a collector that is down would be. */
export async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}
