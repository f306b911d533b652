import { defineConfig } from 'tsup';
import { fairwayTsupConfig } from '../../scripts/esm-only.mjs';

// api-connection.ts loads @kubernetes/client-node (ESM-only) with `await import()` on first use: that works from
// both module systems, so it stays external rather than being bundled into the CommonJS build.
export default defineConfig(fairwayTsupConfig(process.cwd(), { lazyDependencies: ['@kubernetes/client-node'] }));
