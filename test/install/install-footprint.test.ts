// Issue 20 (install footprint) and issue 19 item 1 (the quick start runs as copied), tested the way a user
// meets Fairway: every package is packed (`npm pack`), installed from the tarballs into scratch projects
// (registry dependencies come from npm's cache), and run there with plain `node`: no workspace links, no tsx,
// no source condition. Four variants are measured (packages and MB of node_modules, as `du` counts them):
// the default install must stay within 25 MB and 80 packages. Needs `npm run build` first (CI builds).
//
// Set FAIRWAY_FOOTPRINT_REPORT=<file> to write the measured figures as JSON (the README's install table).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  echoProtoPath,
  makeEndpointSlice,
  startEchoBackend,
  startEtcd,
  startKubeApiStandIn,
  startOtlpReceiver,
  type EchoBackend,
  type EtcdHarness,
  type KubeApiStandIn,
  type OtlpReceiver,
} from '@fairway/testing';
import { register as registerInEtcd, type Registration } from '@fairway/discovery-etcd';

import { DEFAULT_PACKAGES, installScratch, packPackages, repoRoot as root, run, runNode as node, runNodeAsync as nodeAsync } from './scratch-project.js';

const scripts = join(root, 'test', 'install', 'scratch');

/** The two separate installs (DEFAULT_PACKAGES is what `npm install fairway-grpc` brings). */
const KUBERNETES = 'discovery-kubernetes';
const TELEMETRY_SETUP = 'telemetry-setup';
/** The README's install line: Fairway, grpc-js (a peer) and proto-loader (the quick start's client). */
const REGISTRY_DEPS = ['@grpc/grpc-js@1.14.7', '@grpc/proto-loader@^0.8.1'];
const LIMIT = { mb: 25, packages: 80 };

/** Packages installed under `dir/node_modules` (nested ones too): each folder with a package.json that is a package root. */
function countPackages(nodeModules: string): number {
  let n = 0;
  for (const name of readdirSync(nodeModules)) {
    if (name.startsWith('.')) continue;
    const dirs = name.startsWith('@') ? readdirSync(join(nodeModules, name)).map((s) => join(nodeModules, name, s)) : [join(nodeModules, name)];
    for (const dir of dirs) {
      if (!existsSync(join(dir, 'package.json'))) continue;
      n += 1;
      if (existsSync(join(dir, 'node_modules'))) n += countPackages(join(dir, 'node_modules'));
    }
  }
  return n;
}

interface Footprint {
  readonly packages: number;
  /** `du -sk` of node_modules, in MB (1024 x 1024 bytes): what the image layer costs. */
  readonly mb: number;
  /** Sum of the file sizes, in MB. */
  readonly apparentMb: number;
}

function measure(dir: string): Footprint {
  const nm = join(dir, 'node_modules');
  const du = Number(run('du', ['-sk', nm], dir).split(/\s/)[0]);
  const bytes = Number(run('du', ['-sb', nm], dir).split(/\s/)[0]);
  return { packages: countPackages(nm), mb: Math.round((du / 1024) * 10) / 10, apparentMb: Math.round((bytes / 1024 / 1024) * 10) / 10 };
}

describe('packaged install into a scratch project (npm pack, npm install from the tarballs)', { timeout: 900_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'fairway-install-'));
  let tarball = new Map<string, string>();
  const projects = new Map<string, string>();
  const footprints: Record<string, Footprint> = {};

  function install(variant: string, folders: readonly string[]): string {
    const dir = installScratch(work, variant, [...folders.map((f) => tarball.get(f)!), ...REGISTRY_DEPS]);
    footprints[variant] = measure(dir);
    projects.set(variant, dir);
    return dir;
  }

  before(() => {
    tarball = packPackages(work, [...DEFAULT_PACKAGES, KUBERNETES, TELEMETRY_SETUP]);
    install('default', DEFAULT_PACKAGES);
    install('with-kubernetes', [...DEFAULT_PACKAGES, KUBERNETES]);
    install('with-telemetry-setup', [...DEFAULT_PACKAGES, TELEMETRY_SETUP]);
    install('full', [...DEFAULT_PACKAGES, KUBERNETES, TELEMETRY_SETUP]);
    for (const dir of [projects.get('default')!, projects.get('full')!]) {
      for (const f of ['quick-start.mjs', 'quick-start.cjs']) copyFileSync(join(root, 'examples', 'readme', f), join(dir, f));
      for (const f of readdirSync(scripts)) copyFileSync(join(scripts, f), join(dir, f));
    }
    const report = process.env['FAIRWAY_FOOTPRINT_REPORT'];
    if (report) writeFileSync(report, JSON.stringify(footprints, null, 2));
    console.log(`# footprints: ${JSON.stringify(footprints)}`);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test(`the default install is at most ${LIMIT.mb} MB and ${LIMIT.packages} packages, with no SDK and no Kubernetes client`, () => {
    const d = footprints['default']!;
    assert.ok(d.mb <= LIMIT.mb, `default install: ${d.mb} MB`);
    assert.ok(d.packages <= LIMIT.packages, `default install: ${d.packages} packages`);
    const nm = join(projects.get('default')!, 'node_modules');
    for (const absent of ['@kubernetes/client-node', '@opentelemetry/sdk-node', '@opentelemetry/core', '@fairway/discovery-kubernetes', '@fairway/telemetry-setup']) {
      assert.ok(!existsSync(join(nm, absent)), `${absent} is not installed by default`);
    }
    assert.ok(existsSync(join(nm, '@opentelemetry', 'api')), 'the OpenTelemetry API is (a peer of fairway-grpc)');
    // The separate installs are what costs: each adds more than the whole default install weighs.
    assert.ok(footprints['with-kubernetes']!.mb > 2 * d.mb && footprints['with-telemetry-setup']!.mb > 2 * d.mb, JSON.stringify(footprints));
  });

  for (const variant of ['default', 'full']) {
    for (const file of ['quick-start.mjs', 'quick-start.cjs']) {
      test(`${variant} install: the README quick start runs as copied (${file})`, () => {
        const seen = JSON.parse(node(projects.get(variant)!, file)) as Record<string, number>;
        assert.equal(Object.values(seen).reduce((a, b) => a + b, 0), 40);
        assert.deepEqual(Object.keys(seen).sort(), ['zone-a-0', 'zone-a-1'], 'both zone-a servers, no cross-zone call');
      });
    }
  }

  test('default install: the declarations type-check without the separate installs (skipLibCheck off)', () => {
    const dir = projects.get('default')!;
    const config = { compilerOptions: { module: 'node16', moduleResolution: 'node16', target: 'es2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] }, files: ['default-install-types.mts'] };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(config));
    run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], dir);
  });

  for (const file of ['default-install.cjs', 'default-install.mjs']) {
    test(`default install: a k8s: target and setupTelemetry fail at once, naming the package and the command (${file})`, () => {
      const out = JSON.parse(node(projects.get('default')!, file, { ECHO_PROTO: echoProtoPath() }));
      assert.equal(out.k8s.threw, true, 'createClient refused the k8s: target');
      assert.equal(out.k8s.name, 'TargetError');
      assert.match(out.k8s.message, /@fairway\/discovery-kubernetes/);
      assert.match(out.k8s.message, /npm install @fairway\/discovery-kubernetes/);
      assert.equal(out.setup.threw, true, 'setupTelemetry refused');
      assert.equal(out.setup.name, 'MissingPackageError');
      assert.match(out.setup.message, /npm install @fairway\/telemetry-setup/);
      assert.equal(out.observedCall, 'api-only', 'the API-only instrumentation needs no SDK');
    });
  }

  test('a checkout installed with plain links: DuplicateGrpcError names both grpc-js folders', () => {
    const dir = join(work, 'linked');
    mkdirSync(dir);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'scratch-linked', version: '1.0.0', private: true }));
    const folders = DEFAULT_PACKAGES.map((f) => join(root, 'packages', f));
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...folders, ...REGISTRY_DEPS], dir);
    copyFileSync(join(scripts, 'linked-checkout.cjs'), join(dir, 'linked-checkout.cjs'));
    const out = JSON.parse(node(dir, 'linked-checkout.cjs', { ECHO_PROTO: echoProtoPath() }));
    assert.equal(out.name, 'DuplicateGrpcError', JSON.stringify(out));
    const checkoutCopy = realpathSync(join(root, 'node_modules', '@grpc', 'grpc-js'));
    const appCopy = realpathSync(join(dir, 'node_modules', '@grpc', 'grpc-js'));
    assert.equal(out.fairwayCopy, checkoutCopy);
    assert.equal(out.otherCopies[0], appCopy);
    assert.ok(out.message.includes(checkoutCopy) && out.message.includes(appCopy), out.message);
    assert.match(out.message, /--install-links/);
  });

  describe('full install: etcd, Kubernetes and a traced call', () => {
    let etcd: EtcdHarness;
    let api: KubeApiStandIn;
    let receiver: OtlpReceiver;
    const backends: EchoBackend[] = [];
    const registrations: Registration[] = [];
    before(async () => {
      [etcd, api, receiver] = await Promise.all([startEtcd(), startKubeApiStandIn(), startOtlpReceiver()]);
      const viaEtcd = await startEchoBackend({ id: 'etcd-pod', zone: 'z' });
      const viaK8s = await startEchoBackend({ id: 'k8s-pod', zone: 'z' });
      backends.push(viaEtcd, viaK8s);
      registrations.push(await registerInEtcd({ service: 'scratch-echo', address: viaEtcd.address, zone: 'z', instance: 'etcd-pod', endpoints: etcd.endpointsCsv }));
      for (const ns of ['scratch-cjs', 'scratch-mjs']) {
        api.applySlice(
          makeEndpointSlice({
            name: 'echo-k8s-pod',
            namespace: ns,
            service: 'echo',
            ports: [{ name: 'grpc', port: viaK8s.port }],
            endpoints: [{ ip: '127.0.0.1', pod: 'k8s-pod', podUid: 'uid-k8s-pod', zone: 'z' }],
          }),
        );
      }
    });
    after(async () => {
      for (const r of registrations) await r.deregister().catch(() => {});
      for (const b of backends) b.forceStop();
      await Promise.all([api?.close(), receiver?.close(), etcd?.stop()]);
    });

    for (const kind of ['cjs', 'mjs']) {
      test(`an etcd client, a k8s client and a traced call (full-install.${kind})`, async () => {
        const service = `scratch-${kind}`;
        const out = JSON.parse(
          await nodeAsync(projects.get('full')!, `full-install.${kind}`, {
            ECHO_PROTO: echoProtoPath(),
            ETCD_ENDPOINTS: etcd.endpointsCsv,
            ETCD_SERVICE: 'scratch-echo',
            K8S_URL: api.url,
            K8S_TOKEN: api.token,
            K8S_CA_PEM: api.caPem,
            K8S_NAMESPACE: service,
            OTLP_HTTP_ENDPOINT: receiver.httpEndpoint,
            SERVICE_NAME: service,
          }),
        );
        assert.deepEqual(out, {
          etcd: 'etcd-pod',
          k8s: 'k8s-pod',
          multi: ['etcd-pod', 'k8s-pod'],
          multiSaid: [],
          unusedHookOnOther: false,
          peersPlace: { index: 0, count: 1 },
          unusedViaPeers: [],
          unusedHookViaPeers: true,
        });
        const spans = await receiver.waitForSpans((s) => s.filter((x) => x.serviceName === service).length >= 2, 20_000);
        const mine = spans.filter((s) => s.serviceName === service);
        const call = mine.find((s) => s.name === 'fairway.test.Echo/Unary');
        const attempt = mine.find((s) => s.name === 'fairway.test.Echo/Unary attempt 1');
        assert.ok(call && attempt, mine.map((s) => s.name).join(', '));
        assert.equal(attempt.parentSpanId, call.spanId);
        assert.equal(attempt.attributes['fairway.endpoint.address'], backends[1]!.address);
        assert.equal(call.attributes['fairway.target'], `k8s:///echo.${service}:grpc`);
      });
    }
  });
});
