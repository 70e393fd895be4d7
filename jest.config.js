/** Two projects: fast unit tests of pure logic and real adapters, and integration tests against the real local stack. */
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }];

module.exports = {
  // The integration suite drives one shared local stack; running its files in parallel would only fight for 2 cores.
  maxWorkers: 1,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: '<rootDir>/test/node-environment.js',
      roots: ['<rootDir>/test/unit'],
      transform: { '^.+\\.ts$': tsJest },
    },
    {
      displayName: 'integration',
      testEnvironment: '<rootDir>/test/node-environment.js',
      roots: ['<rootDir>/test/integration'],
      transform: { '^.+\\.ts$': tsJest },
      globalSetup: '<rootDir>/test/integration/global-setup.js',
      globalTeardown: '<rootDir>/test/integration/global-teardown.js',
      setupFilesAfterEnv: ['<rootDir>/test/integration/timeout.js'],
    },
    {
      // Latency-ratio tests, each on a stack of its own (npm test runs this project in a jest run of its own): sharing
      // the integration suite's stack, the hostile loop measured 2.1-2.2x idle, alone 3 passes of 3 under 2x.
      displayName: 'latency',
      testEnvironment: '<rootDir>/test/node-environment.js',
      roots: ['<rootDir>/test/latency'],
      transform: { '^.+\\.ts$': tsJest },
      globalSetup: '<rootDir>/test/integration/global-setup.js',
      globalTeardown: '<rootDir>/test/integration/global-teardown.js',
      setupFilesAfterEnv: ['<rootDir>/test/integration/timeout.js'],
    },
    {
      // The packaged functions (npm run package) in a Lambda-like sandbox; needs no running stack.
      displayName: 'sandbox',
      testEnvironment: '<rootDir>/test/node-environment.js',
      roots: ['<rootDir>/test/sandbox'],
      transform: { '^.+\\.ts$': tsJest },
    },
  ],
};
