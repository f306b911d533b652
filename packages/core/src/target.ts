/**
 * Target URIs: `scheme:[//authority]/path`, parsed once when a channel is made so that a malformed target is
 * an error naming the target and what is wrong (grpc-js would otherwise fall back to `dns:` and fail later
 * with "Name resolution failed").
 *
 * | target | meaning |
 * |---|---|
 * | `static:///10.0.0.1:50051@zone-a,[::1]:50052` | fixed list, `@zone` optional |
 * | `etcd:///svc`, `etcd://h:p,h:p/svc` | etcd discovery |
 * | `k8s:///svc.ns:port` | Kubernetes EndpointSlices |
 * | `multi:///etcd://h:p/svc;k8s:///svc.ns:port` | several sources merged into one set (e.g. two regions' etcd) |
 * | `dns:...`, `ipv4:...`, `ipv6:...`, `unix:...` | grpc-js's own resolvers |
 *
 * Pure: no I/O.
 */
import type { EndpointInfo, ParsedTarget } from './contracts.js';

/**
 * `raw` with the user information of its authority (`user:password@` in `scheme://user:password@host/...`)
 * replaced by `***@`, so that a target can be shown in an error, a log line or CLI output without its secret.
 * A target without user information is returned unchanged.
 */
export function redactTarget(raw: string): string {
  if (typeof raw !== 'string') return raw;
  const m = /^(\s*[a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^/]*)(.*)$/s.exec(raw);
  if (!m) return raw;
  const at = m[2]!.lastIndexOf('@');
  return at < 0 ? raw : `${m[1]}***${m[2]!.slice(at)}${m[3]}`;
}

/** A malformed target URI. `message` names the target (credentials in it shown as `***`) and what is wrong. */
export class TargetError extends Error {
  /** The target string as given, with credentials (`user:password@`) replaced by `***@` (see {@link redactTarget}). */
  readonly target: string;
  constructor(target: string, problem: string) {
    const shown = redactTarget(target);
    super(`invalid gRPC target ${JSON.stringify(shown)}: ${problem}`);
    this.name = 'TargetError';
    this.target = shown;
  }
}

/** Why a target with `user:password@` is refused (see `parseTarget`). */
export const CREDENTIALS_IN_TARGET_PROBLEM =
  'credentials in a target ("user:password@") are not accepted: a target is shown in errors, logs, spans and CLI output. ' +
  'For etcd with authentication pass the option discovery.etcd.auth: { username, password } instead';

const SCHEME_RE = /^([a-zA-Z][a-zA-Z0-9+.-]*):(.*)$/s;

/**
 * Splits a target into scheme, authority and path. `scheme:///path` and `scheme://auth/path` give an authority;
 * `scheme:path` (e.g. `dns:pricer:50051`, `ipv4:1.2.3.4:5`) gives the whole rest as the path.
 * Throws `TargetError` for an empty target, a missing scheme, or a scheme-specific problem (see `validateTarget`).
 */
export function parseTarget(raw: string): ParsedTarget {
  if (typeof raw !== 'string') throw new TargetError(String(raw), 'the target must be a string');
  if (raw.trim() === '') throw new TargetError(raw, 'the target is empty');
  if (raw !== raw.trim()) throw new TargetError(raw, 'the target has leading or trailing whitespace');
  // A bare `host:port` (e.g. `pricer.trading.svc:50051`, `[::1]:50051`) is DNS, as in grpc-js.
  if (hostPortProblem(raw) === undefined) return { scheme: 'dns', authority: '', path: raw, raw };
  const m = SCHEME_RE.exec(raw);
  if (!m || /^\d*$/.test(m[2] ?? '')) {
    throw new TargetError(
      raw,
      'no scheme: write e.g. "static:///10.0.0.1:50051", "dns:///pricer:50051", "etcd:///pricer" or "k8s:///pricer.ns:grpc"',
    );
  }
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  let authority = '';
  let path: string;
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    if (slash < 0) {
      authority = rest.slice(2);
      path = '';
    } else {
      authority = rest.slice(2, slash);
      path = rest.slice(slash + 1);
    }
  } else {
    path = rest.startsWith('/') ? rest.slice(1) : rest;
  }
  // Refused for every scheme, before any check that could quote the authority back.
  if (authority.includes('@')) throw new TargetError(raw, CREDENTIALS_IN_TARGET_PROBLEM);
  const parsed: ParsedTarget = { scheme, authority, path, raw };
  validateTarget(parsed);
  return parsed;
}

/** Scheme-specific checks for the schemes Fairway knows. Unknown schemes pass (their resolver decides). */
function validateTarget(t: ParsedTarget): void {
  switch (t.scheme) {
    case 'static':
      if (t.authority !== '') throw new TargetError(t.raw, 'static targets have no authority: write "static:///host:port,..."');
      parseStaticTarget(t);
      return;
    case 'etcd': {
      if (t.path === '') throw new TargetError(t.raw, 'no service name: write "etcd:///<service>" or "etcd://host:port,host:port/<service>"');
      if (t.authority !== '') {
        for (const ep of t.authority.split(',')) {
          const problem = hostPortProblem(ep);
          if (problem) throw new TargetError(t.raw, `etcd endpoint ${JSON.stringify(ep)} in the authority: ${problem}`);
        }
      }
      if (/\s/.test(t.path)) throw new TargetError(t.raw, 'the service name contains whitespace');
      return;
    }
    case 'k8s':
    case 'kubernetes': {
      if (t.path === '') throw new TargetError(t.raw, 'no service: write "k8s:///<service>[.<namespace>]:<port name or number>"');
      parseKubernetesPath(t);
      return;
    }
    case 'dns':
      if (t.path === '') throw new TargetError(t.raw, `no address after "${t.scheme}:"`);
      return;
    case 'ipv4':
    case 'ipv6':
      if (t.path === '') throw new TargetError(t.raw, `no address after "${t.scheme}:"`);
      checkIpAddressList(t);
      return;
    case 'unix':
      // grpc-js takes any path here, so only an empty one is surely wrong (it would connect to "/" or "///").
      if (t.path === '') throw new TargetError(t.raw, `no socket path after "${t.scheme}:": write e.g. "unix:///run/pricer.sock" or "unix:pricer.sock"`);
      return;
    case 'multi':
      parseMultiTarget(t);
      return;
    default:
      return;
  }
}

/**
 * Checks the address list of an `ipv4:` / `ipv6:` target the way grpc-js 1.14's IP resolver reads it, so that
 * what it would refuse at the first call (as UNAVAILABLE "Failed to parse ipv4 address ...") is refused at
 * creation instead. grpc-js accepts, per comma-separated entry: `a.b.c.d`, `a.b.c.d:port` (ipv4:), and `addr`,
 * `[addr]`, `[addr]:port` (ipv6:, `addr` may carry a `%zone`); a missing port means 443. Fairway also refuses a
 * port outside 1-65535 (grpc-js would only fail to connect).
 */
function checkIpAddressList(t: ParsedTarget): void {
  // grpc-js reads `ipv4:/1.2.3.4:5` (one slash) with the slash as part of the first address, and refuses it.
  const rest = t.raw.slice(t.scheme.length + 1);
  if (rest.startsWith('/') && !rest.startsWith('//')) {
    throw new TargetError(t.raw, `write "${t.scheme}:<address>,..." or "${t.scheme}:///<address>,..." (grpc-js does not read a single "/")`);
  }
  const wantV6 = t.scheme === 'ipv6';
  for (const entry of t.path.split(',')) {
    if (entry === '') throw new TargetError(t.raw, 'an empty entry in the address list (two commas in a row, or a comma at an end?)');
    const problem = ipAddressProblem(entry, wantV6);
    if (problem) throw new TargetError(t.raw, `address ${JSON.stringify(entry)}: ${problem}`);
  }
}

/** What is wrong with one entry of an `ipv4:` (`wantV6` false) or `ipv6:` address list, or undefined. */
function ipAddressProblem(entry: string, wantV6: boolean): string | undefined {
  let host: string;
  let port: string | undefined;
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']');
    if (close < 0) return 'unclosed "[" around an IPv6 address';
    host = entry.slice(1, close);
    if (!host.includes(':')) return 'only an IPv6 address goes in "[...]"';
    const after = entry.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) return 'write "[ipv6]" or "[ipv6]:port"';
      port = after.slice(1);
    }
  } else {
    // As grpc-js: one ":" separates host and port; none means no port; more means a bare IPv6 address.
    const parts = entry.split(':');
    host = parts.length === 2 ? parts[0]! : entry;
    port = parts.length === 2 ? parts[1]! : undefined;
  }
  if (wantV6 && !IPV6_ADDRESS.test(host)) {
    return IPV4.test(host) ? `${JSON.stringify(host)} is an IPv4 address: use an "ipv4:" target` : `${JSON.stringify(host)} is not an IPv6 address`;
  }
  if (!wantV6 && !IPV4.test(host)) {
    return IPV6_ADDRESS.test(host) ? `${JSON.stringify(host)} is an IPv6 address: use an "ipv6:" target` : `${JSON.stringify(host)} is not an IPv4 address (for a host name use "dns:")`;
  }
  if (port !== undefined) {
    if (!/^\d+$/.test(port)) return `port ${JSON.stringify(port)} is not a number`;
    const n = Number(port);
    if (n < 1 || n > 65535) return `port ${port} is out of range 1-65535`;
  }
  return undefined;
}

/**
 * The targets of a `multi:///<target>;<target>...` target (at least two, none of them `multi:`), each parsed
 * and validated. Throws `TargetError` naming the part that is wrong.
 */
export function parseMultiTarget(t: ParsedTarget): ParsedTarget[] {
  if (t.authority !== '') throw new TargetError(t.raw, 'multi targets have no authority: write "multi:///<target>;<target>"');
  const parts = t.path.split(';');
  if (parts.length < 2) throw new TargetError(t.raw, 'a multi target lists at least two targets separated by ";"');
  return parts.map((part, i) => {
    if (part === '') throw new TargetError(t.raw, `part ${i + 1} is empty (two ";" in a row?)`);
    let sub: ParsedTarget;
    try {
      sub = parseTarget(part);
    } catch (e) {
      throw new TargetError(t.raw, `part ${i + 1}: ${(e as Error).message}`);
    }
    if (sub.scheme === 'multi') throw new TargetError(t.raw, `part ${i + 1} is itself a multi target`);
    return sub;
  });
}

/** The service, namespace and port of a `k8s:///svc.ns:port` target. */
export interface KubernetesTarget {
  readonly service: string;
  /** Absent: the pod's own namespace. */
  readonly namespace?: string;
  /** Port name or number as written; absent when not given. */
  readonly port?: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Parses the path of a `k8s:` target (`svc`, `svc.ns`, `svc:port`, `svc.ns:port`). Throws `TargetError`. */
export function parseKubernetesPath(t: ParsedTarget): KubernetesTarget {
  const [name, port, extra] = t.path.split(':');
  if (extra !== undefined) throw new TargetError(t.raw, 'more than one ":" in the Kubernetes service');
  const [service, namespace, more] = (name ?? '').split('.');
  if (more !== undefined) throw new TargetError(t.raw, 'write "<service>.<namespace>:<port>" (no cluster domain)');
  if (!service || !DNS_LABEL.test(service)) throw new TargetError(t.raw, `service name ${JSON.stringify(service ?? '')} is not a valid DNS label`);
  if (namespace !== undefined && !DNS_LABEL.test(namespace)) throw new TargetError(t.raw, `namespace ${JSON.stringify(namespace)} is not a valid DNS label`);
  if (port !== undefined) {
    if (port === '') throw new TargetError(t.raw, 'empty port after ":"');
    if (/^\d+$/.test(port)) {
      const n = Number(port);
      if (n < 1 || n > 65535) throw new TargetError(t.raw, `port ${port} is out of range 1-65535`);
    } else if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(port) || port.length > 15) {
      throw new TargetError(t.raw, `port name ${JSON.stringify(port)} is not a valid port name`);
    }
  }
  return {
    service,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(port !== undefined ? { port } : {}),
  };
}

const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:.]+(%[\w.-]+)?$/;
/**
 * An IPv6 address, optionally with a `%zone`, exactly as Node's `net.isIPv6` (which grpc-js's `ipv6:` resolver
 * uses) accepts it; spelled out here because this module stays free of Node imports.
 */
const IPV6_ADDRESS = (() => {
  const v4 = '(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
  const g = '[0-9a-fA-F]{1,4}';
  return new RegExp(
    '^(?:' +
      `(?:${g}:){7}(?:${g}|:)|` +
      `(?:${g}:){6}(?:${v4}|:${g}|:)|` +
      `(?:${g}:){5}(?::${v4}|(?::${g}){1,2}|:)|` +
      `(?:${g}:){4}(?:(?::${g}){0,1}:${v4}|(?::${g}){1,3}|:)|` +
      `(?:${g}:){3}(?:(?::${g}){0,2}:${v4}|(?::${g}){1,4}|:)|` +
      `(?:${g}:){2}(?:(?::${g}){0,3}:${v4}|(?::${g}){1,5}|:)|` +
      `(?:${g}:){1}(?:(?::${g}){0,4}:${v4}|(?::${g}){1,6}|:)|` +
      `(?::(?:(?::${g}){0,5}:${v4}|(?::${g}){1,7}|:))` +
      ')(?:%[0-9a-zA-Z-.:]+)?$',
  );
})();

/** What is wrong with a `host:port` (IPv6 in brackets), or undefined when it is fine. */
export function hostPortProblem(hostPort: string): string | undefined {
  let host: string;
  let port: string;
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close < 0) return 'unclosed "[" around an IPv6 address';
    host = hostPort.slice(1, close);
    const after = hostPort.slice(close + 1);
    if (!after.startsWith(':')) return 'no port: write "[ipv6]:port"';
    port = after.slice(1);
    if (!IPV6.test(host) || !host.includes(':')) return `${JSON.stringify(host)} is not an IPv6 address`;
  } else {
    const colon = hostPort.lastIndexOf(':');
    if (colon < 0) return 'no port: write "host:port"';
    host = hostPort.slice(0, colon);
    port = hostPort.slice(colon + 1);
    if (host.includes(':')) return 'IPv6 addresses must be in brackets, e.g. "[::1]:50051"';
    if (host === '') return 'empty host';
    if (/^[\d.]+$/.test(host)) {
      if (!IPV4.test(host)) return `${JSON.stringify(host)} is not an IPv4 address`;
    } else if (!HOSTNAME.test(host)) {
      return `${JSON.stringify(host)} is not a valid host name`;
    }
  }
  if (!/^\d+$/.test(port)) return `port ${JSON.stringify(port)} is not a number`;
  const n = Number(port);
  if (n < 1 || n > 65535) return `port ${port} is out of range 1-65535`;
  return undefined;
}

/**
 * The endpoints of a `static:///addr[@zone],addr[@zone]` target, validated (hosts, ports 1-65535, no
 * duplicates). Accepts the parsed target or the raw string.
 */
export function parseStaticTarget(target: ParsedTarget | string): EndpointInfo[] {
  const t = typeof target === 'string' ? parseTarget(target) : target;
  if (t.scheme !== 'static') throw new TargetError(t.raw, `scheme "${t.scheme}" is not "static"`);
  if (t.path.trim() === '') throw new TargetError(t.raw, 'no endpoints: write "static:///host:port[@zone],..."');
  const seen = new Set<string>();
  const out: EndpointInfo[] = [];
  for (const part of t.path.split(',')) {
    const item = part.trim();
    if (item === '') throw new TargetError(t.raw, 'an empty entry in the endpoint list (two commas in a row?)');
    const at = item.indexOf('@');
    const address = at < 0 ? item : item.slice(0, at);
    const zone = at < 0 ? undefined : item.slice(at + 1);
    const problem = hostPortProblem(address);
    if (problem) throw new TargetError(t.raw, `endpoint ${JSON.stringify(address)}: ${problem}`);
    if (zone !== undefined && zoneNameProblem(zone) !== undefined) {
      throw new TargetError(t.raw, `zone ${JSON.stringify(zone)} of ${address} is empty or has characters other than letters, digits, ".", "_", "-"`);
    }
    if (seen.has(address)) throw new TargetError(t.raw, `endpoint ${address} is listed twice`);
    seen.add(address);
    out.push(zone !== undefined ? { address, zone } : { address });
  }
  return out;
}

/**
 * Why `name` cannot be a zone or region name, or undefined when it can: a letter or digit, then letters, digits,
 * ".", "_" or "-", at most 253 characters (a Kubernetes `topology.kubernetes.io/zone` label value, and every
 * cloud's zone names, fit). The same rule for the client's `zone` option, a registration's zone and a static
 * target's `@zone`, so that a zone written one way everywhere matches everywhere (" zone-a " would never match).
 */
export function zoneNameProblem(name: string): string | undefined {
  if (name.length > 253) return `is ${name.length} characters long (at most 253)`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) return 'must start with a letter or digit and have only letters, digits, ".", "_" or "-"';
  return undefined;
}
