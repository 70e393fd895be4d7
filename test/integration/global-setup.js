// Starts one real local stack (serverless-offline + local S3 + local SQS) for the whole integration suite,
// on free ports of its own so a developer's `npm start` can keep running. `npm test` builds dist/ first.
const { randomBytes } = require('node:crypto');
const { mkdtempSync } = require('node:fs');
const os = require('node:os');
const net = require('node:net');
const path = require('node:path');

/** A port nobody listens on right now, so a running `npm start` (or another suite) never collides. */
const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(String(port)));
    });
  });

const newKey = () => randomBytes(24).toString('base64url');

module.exports = async () => {
  if (process.env.API_URL) return; // an already running stack was named (and API_KEY a key it accepts)
  // The suite's own client, unthrottled in effect so the overload and load tests meet admission control, not its
  // limiter, and the operator; a second client on the default limits; a third held to 2 requests/s, burst 4.
  const keys = { suite: newKey(), other: newKey(), noisy: newKey() };
  Object.assign(process.env, {
    API_KEYS: `suite:${keys.suite}:100000:100000,other:${keys.other},noisy:${keys.noisy}:2:4`,
    OPERATOR_KEYS: 'suite',
    API_KEY: keys.suite,
    API_KEY_OTHER: keys.other,
    API_KEY_NOISY: keys.noisy,
    HTTP_PORT: await freePort(),
    LAMBDA_PORT: await freePort(),
    S3_PORT: await freePort(),
    SQS_PORT: await freePort(),
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
