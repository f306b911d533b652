/** Instrumentation scope name of Fairway's tracer and meter. */
export const TELEMETRY_SCOPE_NAME = '@fairway/telemetry';
/** Version reported with the instrumentation scope (kept in step with package.json). */
export const TELEMETRY_VERSION = '0.1.0';
