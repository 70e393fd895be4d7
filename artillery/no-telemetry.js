// Preloaded by src/tools/load/runner.ts (`node -r`). Artillery 2.0.21 still sends an anonymised "test run"
// event when ARTILLERY_DISABLE_TELEMETRY is set, and offline its PostHog client retries for ~12 s
// before the process may exit. Answering `require('posthog-node')` with a no-op client removes both.
const Module = require('node:module');

const load = Module._load;
Module._load = function loadWithoutTelemetry(request, ...rest) {
  if (request === 'posthog-node') {
    return {
      PostHog: class NoTelemetry {
        capture() {}
        async shutdownAsync() {}
      },
    };
  }
  return load.call(this, request, ...rest);
};
