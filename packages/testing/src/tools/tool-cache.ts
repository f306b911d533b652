/**
 * Where the project's build scripts (`scripts/tools/build-*.sh`) put the real tools they build from Go
 * modules: `${FAIRWAY_TOOL_CACHE:-$HOME/.cache/fairway-tools}/<tool>-<version>/<binary>`.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The tool cache directory: `FAIRWAY_TOOL_CACHE`, else `~/.cache/fairway-tools`. */
export function toolCacheDir(): string {
  return process.env['FAIRWAY_TOOL_CACHE'] || join(homedir(), '.cache', 'fairway-tools');
}

/**
 * The path of a built tool: `explicit` when given, else the environment variable `envName` when set, else
 * `<cache>/<tool>-<version>/<binary>`. Throws an error naming the script to run when the file is missing.
 */
export function toolBinary(tool: string, version: string, binary: string, envName: string, script: string, explicit?: string): string {
  const path = explicit ?? (process.env[envName] || join(toolCacheDir(), `${tool}-${version}`, binary));
  if (!existsSync(path)) {
    throw new Error(
      `${tool} ${version} is not built: ${path} does not exist. Run \`bash ${script}\` (builds it once into ` +
        `${toolCacheDir()}, several minutes), or set ${envName} to a ${binary} binary.`,
    );
  }
  return path;
}

/**
 * A random port for a tool that cannot bind port 0: drawn from 20000..32767, below Linux's ephemeral range
 * (32768..60999) so that it does not meet the kernel's own outgoing ports; not probed (a probe's answer is
 * stale by the time the tool binds). The caller retries with another draw when the tool says EADDRINUSE.
 */
export function randomPort(random: () => number = Math.random): number {
  return 20000 + Math.floor(random() * 12768);
}
