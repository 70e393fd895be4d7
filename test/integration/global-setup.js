// Starts one real local stack (serverless-offline + local S3 + local SQS) for the whole integration suite,
// on ports of its own so a developer's `npm start` can keep running. `npm test` builds dist/ first.
const { mkdtempSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');

module.exports = async () => {
  if (process.env.API_URL) return; // an already running stack was named
  Object.assign(process.env, {
    HTTP_PORT: '3100',
    LAMBDA_PORT: '3102',
    S3_PORT: '4669',
    SQS_PORT: '9424',
    LOCAL_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'sic-it-')),
    // Test-only fault injection: a worker invocation that sees this marker dies mid-batch, once.
    FAULT_CRASH_ON_KEY: 'crash-me-once',
    LOCAL_VISIBILITY_TIMEOUT: '8',
  });
  const { startLocalStack, optionsFromEnv } = require('../../dist/src/local/start.js');
  const stack = await startLocalStack(optionsFromEnv());
  process.env.API_URL = stack.url;
  globalThis.__LOCAL_STACK__ = stack;
};
