/**
 * How the source reaches the Kubernetes API: a `KubeConfig` from `@kubernetes/client-node` supplies the server
 * URL, the CA and the credentials (in-cluster service account token and CA, a kubeconfig file, or an explicit
 * server and token); requests are plain `node:https` requests with the options the KubeConfig applies, so the
 * source owns its list and watch loop (the library's informer does not restart after an abrupt drop). The
 * token is re-read for every request (in-cluster tokens rotate) and never appears in any message.
 */
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** Where the service account files are mounted in a pod. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The auth part of the source's options. */
export interface ApiAuthOptions {
  readonly kubeConfig?: KubeConfig;
  readonly kubeconfigPath?: string;
  readonly apiServerUrl?: string;
  readonly token?: string;
  readonly caPem?: string;
  readonly insecureSkipTlsVerify?: boolean;
}

/** A loaded configuration, or why there is none. */
export type LoadedConfig =
  | { readonly ok: true; readonly kubeConfig: KubeConfig; readonly server: string; readonly source: string; readonly contextNamespace?: string }
  | { readonly ok: false; readonly problem: string };

/**
 * Loads the API configuration in this order: `kubeConfig`; `apiServerUrl` (+ `token`, `caPem`);
 * `kubeconfigPath`; `$KUBECONFIG`; the in-cluster service account (`KUBERNETES_SERVICE_HOST` and the token file);
 * `~/.kube/config`. Never throws (rejects never).
 *
 * `@kubernetes/client-node` is imported here, on first use, not when the package loads: it costs about 1.2 s of
 * CPU to load, which every process that imports `fairway-grpc` would otherwise pay without a `k8s:` target.
 */
export async function loadApiConfig(opts: ApiAuthOptions, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  try {
    const { KubeConfig } = await import('@kubernetes/client-node');
    let kc: KubeConfig;
    let source: string;
    if (opts.kubeConfig) {
      kc = opts.kubeConfig;
      source = 'the given KubeConfig';
    } else if (opts.apiServerUrl) {
      let parsed: URL;
      try {
        parsed = new URL(opts.apiServerUrl);
      } catch {
        return { ok: false, problem: `apiServerUrl ${JSON.stringify(opts.apiServerUrl)} is not a URL (write e.g. "https://10.0.0.1:6443")` };
      }
      if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
        return { ok: false, problem: `apiServerUrl ${JSON.stringify(opts.apiServerUrl)} must start with https://` };
      }
      kc = new KubeConfig();
      kc.loadFromClusterAndUser(
        {
          name: 'fairway',
          server: opts.apiServerUrl.replace(/\/+$/, ''),
          skipTLSVerify: opts.insecureSkipTlsVerify ?? parsed.protocol === 'http:',
          ...(opts.caPem ? { caData: Buffer.from(opts.caPem).toString('base64') } : {}),
        },
        { name: 'fairway', ...(opts.token ? { token: opts.token } : {}) },
      );
      source = 'apiServerUrl';
    } else {
      const path = opts.kubeconfigPath ?? (env.KUBECONFIG ? env.KUBECONFIG.split(':')[0] : undefined);
      kc = new KubeConfig();
      if (path) {
        if (!existsSync(path)) return { ok: false, problem: `kubeconfig ${path} does not exist` };
        kc.loadFromFile(path);
        source = `kubeconfig ${path}`;
      } else if (env.KUBERNETES_SERVICE_HOST && existsSync(`${SERVICE_ACCOUNT_DIR}/token`)) {
        kc.loadFromCluster();
        source = 'the in-cluster service account';
      } else {
        const home = env.HOME ?? env.USERPROFILE;
        const file = home ? `${home}/.kube/config` : undefined;
        if (!file || !existsSync(file)) {
          return {
            ok: false,
            problem: 'no Kubernetes API configuration: not in a pod (no KUBERNETES_SERVICE_HOST and service account token), no KUBECONFIG, no ~/.kube/config, and no apiServerUrl/kubeconfigPath option',
          };
        }
        kc.loadFromFile(file);
        source = `kubeconfig ${file}`;
      }
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster || !cluster.server) return { ok: false, problem: `${source} has no current cluster with a server URL` };
    const ctx = kc.getContextObject(kc.getCurrentContext());
    return {
      ok: true,
      kubeConfig: kc,
      server: cluster.server.replace(/\/+$/, ''),
      source,
      ...(ctx?.namespace ? { contextNamespace: ctx.namespace } : {}),
    };
  } catch (err) {
    return { ok: false, problem: `cannot load the Kubernetes API configuration: ${(err as Error).message}` };
  }
}

/** Reads the pod's own namespace from the service account mount, or undefined. */
export function readPodNamespace(file: string): string | undefined {
  try {
    const ns = readFileSync(file, 'utf8').trim();
    return ns === '' ? undefined : ns;
  } catch {
    return undefined;
  }
}

/** A failed request: HTTP status (0 for a network error), what the server said, and the Status reason. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly httpStatus: number,
    readonly reason?: string,
    readonly serverMessage?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * Sends `GET server+path` with the KubeConfig's credentials and TLS settings; resolves with the response as soon
 * as its headers arrive (the caller reads or streams the body). `timeoutMs` bounds the wait for the headers.
 */
export async function apiGet(kc: KubeConfig, server: string, path: string, signal: AbortSignal, timeoutMs: number): Promise<IncomingMessage> {
  const opts: RequestOptions & Record<string, unknown> = { method: 'GET', headers: { Accept: 'application/json', 'User-Agent': 'fairway-discovery-kubernetes' } };
  await kc.applyToHTTPSOptions(opts);
  const url = new URL(server + path);
  const agent = opts.agent as { destroy?: () => void } | undefined;
  return await new Promise<IncomingMessage>((resolve, reject) => {
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    let settled = false;
    const req = send(url, { ...opts, signal }, (res) => {
      settled = true;
      clearTimeout(timer);
      res.once('close', () => agent?.destroy?.());
      resolve(res);
    });
    const timer = setTimeout(() => {
      if (!settled) req.destroy(new ApiError(`no response within ${timeoutMs} ms`, 0, 'Timeout'));
    }, timeoutMs);
    req.once('error', (err) => {
      clearTimeout(timer);
      agent?.destroy?.();
      if (!settled) {
        settled = true;
        reject(err);
      }
    });
    req.end();
  });
}

/** Reads a whole response body, at most `maxBytes` (more is an error). */
export async function readBody(res: IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) {
      res.destroy();
      throw new ApiError(`response larger than ${maxBytes} bytes`, res.statusCode ?? 0, 'TooLarge');
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
