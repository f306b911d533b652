import { defineConfig } from 'tsup';
import { fairwayTsupConfig } from '../../scripts/esm-only.mjs';

export default defineConfig(fairwayTsupConfig(process.cwd(), { entry: ['src/index.ts', 'src/bin.ts'] }));
