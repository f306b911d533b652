/** Types of esm-only.mjs (see there). */
export function formatOfFile(file: string): 'esm' | 'cjs';
export function requireFormat(packageDir: string, name: string): 'esm' | 'cjs' | 'no-require-entry' | 'missing';
export function esmOnlyDependencies(packageDir: string): string[];
export function fairwayTsupConfig(
  packageDir: string,
  options?: { entry?: string[]; lazyDependencies?: string[]; esbuildOptions?: (o: any, ctx: { format: string }) => void },
): any[];
