import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/** What a local trigger knows about the function it invokes. */
export interface LambdaContextOptions {
  functionName: string;
  /** The function's configured timeout; getRemainingTimeInMillis counts down from it. Defaults to 30 s. */
  timeoutMs?: number;
  memoryLimitInMB?: number;
  region?: string;
  accountId?: string;
  awsRequestId?: string;
}

/**
 * A Lambda-like context for invoking a handler in-process, complete enough for middy and Powertools
 * (which read awsRequestId, functionName, invokedFunctionArn, memoryLimitInMB and the remaining time).
 */
export function createLambdaContext(options: LambdaContextOptions): Context {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  const unsupported = (name: string) => () => {
    throw new Error(`context.${name}() is not supported locally: return a value or throw from an async handler`);
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: options.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${accountId}:function:${options.functionName}`,
    memoryLimitInMB: String(options.memoryLimitInMB ?? 1024),
    awsRequestId: options.awsRequestId ?? randomUUID(),
    logGroupName: `/aws/lambda/${options.functionName}`,
    logStreamName: `local/[$LATEST]${randomUUID().replace(/-/g, '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported('done'),
    fail: unsupported('fail'),
    succeed: unsupported('succeed'),
  };
}
