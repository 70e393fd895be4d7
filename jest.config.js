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
      // The packaged functions (npm run package) in a Lambda-like sandbox; needs no running stack.
      displayName: 'sandbox',
      testEnvironment: '<rootDir>/test/node-environment.js',
      roots: ['<rootDir>/test/sandbox'],
      transform: { '^.+\\.ts$': tsJest },
    },
  ],
};
