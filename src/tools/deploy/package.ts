// `npm run package [-- osls options]`: bundles the functions, builds the layers and runs `osls package` into
// .serverless/, with no network and no credentials. `npm run deploy [-- osls options]`: the same, then deploys.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { projectRoot } from '../../shared/paths';
import { bundleFunctions, printBundles } from './bundle';

const root = projectRoot();

/**
 * osls compares each layer's hash with the stack's last deployment (CloudFormation DescribeStacks) even when it
 * only packages. With no account there is no last deployment, and this is the answer CloudFormation gives for a
 * stack that does not exist, which osls takes as "upload every layer". Served on loopback, for `package` only.
 */
function noStackYet(): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(400, { 'Content-Type': 'text/xml', 'x-amzn-RequestId': randomUUID() });
      res.end(
        '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>' +
          '<Code>ValidationError</Code><Message>Stack does not exist (packaged offline: no deployment to compare with)</Message>' +
          `</Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
      );
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, env, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with ${signal ?? code}`))));
  });
}

async function main(): Promise<void> {
  const [command = 'package', ...slsArgs] = process.argv.slice(2);
  if (command !== 'package' && command !== 'deploy') throw new Error(`usage: package.js package|deploy [osls options]; got "${command}"`);
  if (!slsArgs.includes('--stage')) slsArgs.push('--stage', 'prod');
  printBundles(await bundleFunctions());
  await run(process.execPath, [path.join(root, 'layers', 'build.mjs')], process.env);
  const osls = path.join(root, 'node_modules', 'osls', 'bin', 'serverless.js');
  if (command === 'deploy') {
    await run(process.execPath, [osls, 'deploy', ...slsArgs], process.env);
    return;
  }
  const stub = await noStackYet();
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AWS_ENDPOINT_URL_CLOUDFORMATION: `http://127.0.0.1:${(stub.address() as AddressInfo).port}`,
      // Signing needs some credentials; nothing that checks them is reached.
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID || 'package-offline',
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY || 'package-offline',
      AWS_REGION: process.env.AWS_REGION || 'us-east-1',
    };
    await run(process.execPath, [osls, 'package', ...slsArgs], env);
  } finally {
    stub.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
