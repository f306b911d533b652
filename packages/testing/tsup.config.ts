import { defineConfig } from 'tsup';

// `node:test` exists only with its `node:` prefix (there is no bare `test` built-in), so the prefix that tsup
// strips by default must stay: the etcd harness imports `before`/`after` from it.
export default defineConfig({ removeNodeProtocol: false });
