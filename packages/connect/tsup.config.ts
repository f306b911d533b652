import { defineConfig } from 'tsup';
import { fairwayTsupConfig } from '../../scripts/esm-only.mjs';

// discovery.ts reads import.meta.url in the ESM build and falls back to __filename in the CJS build, where the
// bundler leaves import.meta empty on purpose: its warning about that is expected, not a problem.
export default defineConfig(
  fairwayTsupConfig(process.cwd(), {
    esbuildOptions: (o: { logOverride?: Record<string, string> }) => void (o.logOverride = { ...o.logOverride, 'empty-import-meta': 'silent' }),
  }),
);
