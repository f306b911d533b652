import { defineConfig } from 'tsup';
import { fairwayTsupConfig } from '../../scripts/esm-only.mjs';

export default defineConfig(fairwayTsupConfig(process.cwd(), {}));
