/**
 * The method `fairway load` calls, from a `.proto` file: its path, and the request serializer checked against
 * the `--data` JSON once, before any traffic.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { UsageError } from '../sources.js';

/** A unary method ready to call with a generic client. */
export interface LoadMethod {
  /** gRPC path, e.g. `/fairway.test.Echo/Unary`. */
  readonly path: string;
  /** `package.Service/Method` as given. */
  readonly name: string;
  /** The request as bytes (the same message is sent on every call). */
  readonly requestBytes: Buffer;
  /** Decodes a reply (only to check that it parses; the load tool does not look at it). */
  readonly decodeReply: (bytes: Buffer) => unknown;
}

/**
 * Loads `protoFile`, finds `method` (`package.Service/Method`), and encodes `dataJson` as its request.
 * Throws {@link UsageError} naming what was wrong: a missing file, a parse error, an unknown service or
 * method (listing the ones there are), a streaming method, JSON that does not parse or does not fit the message.
 */
export function loadMethod(protoFile: string, method: string, dataJson: string, includeDirs: readonly string[] = []): LoadMethod {
  if (!existsSync(protoFile)) throw new UsageError(`--proto ${protoFile}: no such file`);
  const m = /^([A-Za-z_][\w.]*)\/([A-Za-z_]\w*)$/.exec(method.trim());
  if (!m) throw new UsageError(`--method ${JSON.stringify(method)}: write it as package.Service/Method, e.g. fairway.test.Echo/Unary`);
  const [, serviceName, methodName] = m as unknown as [string, string, string];
  let definition: protoLoader.PackageDefinition;
  try {
    // The file by its name under its own folder, so its imports resolve next to it (and from --import-path).
    const absolute = resolve(protoFile);
    definition = protoLoader.loadSync(basename(absolute), {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: false,
      oneofs: true,
      includeDirs: [dirname(absolute), ...includeDirs.map((d) => resolve(d))],
    });
  } catch (e) {
    throw new UsageError(`--proto ${protoFile}: ${(e as Error).message}`);
  }
  const service = definition[serviceName];
  if (!service || typeof service !== 'object' || 'format' in service) {
    throw new UsageError(`--method ${method}: ${protoFile} has no service ${serviceName} (services: ${servicesOf(definition).join(', ') || 'none'})`);
  }
  const methods = service as unknown as Record<string, protoLoader.MethodDefinition<object, object>>;
  const def = methods[methodName];
  if (!def || typeof def.path !== 'string') {
    throw new UsageError(`--method ${method}: service ${serviceName} has no method ${methodName} (methods: ${Object.keys(methods).join(', ')})`);
  }
  if (def.requestStream || def.responseStream) {
    throw new UsageError(`--method ${method}: is a streaming method; fairway load calls unary methods only`);
  }
  let data: unknown;
  try {
    data = JSON.parse(dataJson);
  } catch (e) {
    throw new UsageError(`--data: not valid JSON (${(e as Error).message})`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new UsageError('--data: must be a JSON object (the request message)');
  const type = (def.requestType as unknown as { type?: { field?: { name: string }[] } }).type;
  const known = new Set((type?.field ?? []).map((f) => f.name));
  const unknown = Object.keys(data).filter((k) => known.size > 0 && !known.has(k));
  if (unknown.length > 0) {
    throw new UsageError(`--data: ${def.path.slice(1)} request has no field ${unknown.join(', ')} (fields: ${[...known].join(', ')})`);
  }
  let requestBytes: Buffer;
  try {
    requestBytes = def.requestSerialize(data as object);
  } catch (e) {
    throw new UsageError(`--data: does not fit the request message of ${method}: ${(e as Error).message}`);
  }
  return { path: def.path, name: `${serviceName}/${methodName}`, requestBytes, decodeReply: (b) => def.responseDeserialize(b) };
}

function servicesOf(definition: protoLoader.PackageDefinition): string[] {
  return Object.entries(definition)
    .filter(([, v]) => v && typeof v === 'object' && !('format' in v))
    .map(([k]) => k);
}
