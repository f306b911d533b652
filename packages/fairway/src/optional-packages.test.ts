// The separate installs (issue 20): setupTelemetry without @fairway/telemetry-setup fails at once, naming the
// package and the command. (The packaged-install test checks the same with the package really absent, and
// k8s: targets without @fairway/discovery-kubernetes.)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { MissingPackageError, setupTelemetry } from './index.js';
import { simulateMissingPackagesForTests, TELEMETRY_SETUP_PACKAGE } from './optional-packages.js';

after(() => simulateMissingPackagesForTests(undefined));

test('setupTelemetry without @fairway/telemetry-setup throws MissingPackageError with the install command', () => {
  simulateMissingPackagesForTests([TELEMETRY_SETUP_PACKAGE]);
  assert.throws(
    () => setupTelemetry({ serviceName: 'no-sdk' }),
    (e: unknown) => {
      assert.ok(e instanceof MissingPackageError, String(e));
      assert.equal(e.packageName, '@fairway/telemetry-setup');
      assert.equal(e.installCommand, 'npm install @fairway/telemetry-setup');
      assert.match(e.message, /^setupTelemetry needs the package @fairway\/telemetry-setup .* Install it: npm install @fairway\/telemetry-setup$/s);
      return true;
    },
  );
});

test('installed, it is loaded on the first call and set-up works', async () => {
  simulateMissingPackagesForTests(undefined);
  const handle = setupTelemetry({ serviceName: 'with-sdk', exporter: 'none' });
  assert.equal(handle.config.exporter, 'none');
  await handle.shutdown();
});
