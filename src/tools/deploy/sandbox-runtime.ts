// The runtime of the Lambda sandbox (src/tools/deploy/sandbox.ts): a minimal client of the Lambda Runtime API, as
// /var/runtime holds one in AWS. It loads the handler at init, then takes invocations from
// http://$AWS_LAMBDA_RUNTIME_API one at a time, as a Lambda container does. It imports only Node built-ins,
// so nothing of the checkout can reach the function through it.
import { get, type IncomingHttpHeaders } from 'node:http';
import path from 'node:path';

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime`;

interface LambdaError {
  errorType: string;
  errorMessage: string;
  trace: string[];
}

const toLambdaError = (err: unknown): LambdaError =>
  err instanceof Error
    ? { errorType: err.name, errorMessage: err.message, trace: (err.stack ?? '').split('\n') }
    : { errorType: 'Error', errorMessage: String(err), trace: [] };

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body ?? null) });

/**
 * The long poll for the next invocation, through node:http rather than fetch: undici gives up on a response whose
 * headers take over 300 s, and a container may wait longer than that between invocations.
 */
const nextInvocation = (): Promise<{ headers: IncomingHttpHeaders; body: string }> =>
  new Promise((resolve, reject) => {
    get(`${api}/invocation/next`, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ headers: res.headers, body }));
      res.on('error', reject);
    }).on('error', reject);
  });

const header = (headers: IncomingHttpHeaders, name: string): string => {
  const v = headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? '';
};

type Handler = (event: unknown, context: object) => Promise<unknown>;

function loadHandler(): Handler {
  const spec = process.env._HANDLER ?? '';
  const dot = spec.lastIndexOf('.');
  const file = path.resolve(process.env.LAMBDA_TASK_ROOT ?? '/var/task', spec.slice(0, dot));
  const fn = (require(file) as Record<string, unknown>)[spec.slice(dot + 1)];
  if (typeof fn !== 'function') throw new Error(`${spec}: no such exported function`);
  return fn as Handler;
}

async function main(): Promise<void> {
  let handler: Handler;
  try {
    handler = loadHandler();
  } catch (err: unknown) {
    await post(`${api}/init/error`, toLambdaError(err), { 'Lambda-Runtime-Function-Error-Type': 'Runtime.ImportModuleError' });
    process.exit(1);
  }
  for (;;) {
    const next = await nextInvocation();
    const requestId = header(next.headers, 'lambda-runtime-aws-request-id');
    const deadline = Number(header(next.headers, 'lambda-runtime-deadline-ms'));
    const event: unknown = JSON.parse(next.body);
    process.env._X_AMZN_TRACE_ID = header(next.headers, 'lambda-runtime-trace-id');
    const context = {
      awsRequestId: requestId,
      invokedFunctionArn: header(next.headers, 'lambda-runtime-invoked-function-arn'),
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => deadline - Date.now(),
    };
    try {
      const result = await handler(event, context);
      await post(`${api}/invocation/${requestId}/response`, result);
    } catch (err: unknown) {
      await post(`${api}/invocation/${requestId}/error`, toLambdaError(err), { 'Lambda-Runtime-Function-Error-Type': 'Unhandled' });
    }
  }
}

void main();
