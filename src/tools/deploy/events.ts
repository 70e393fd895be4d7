// Lambda events as AWS sends them, for the sandbox: API Gateway REST proxy (v1) requests, S3 notifications and SQS
// batches. Shapes from the AWS docs' sample events, not from our emulators, so a difference between the two shows.
import { createHash, randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, S3Event, SQSEvent } from 'aws-lambda';

/** serverless.yml's `apiGateway.binaryMediaTypes`: API Gateway base64-encodes these bodies for the function. */
const BINARY = [/^image\//i, /^multipart\/form-data/i, /^application\/octet-stream/i];

export interface HttpRequest {
  method: string;
  /** The route as declared (`/jobs/{jobId}`); `path` fills its parameters. */
  resource: string;
  path?: string;
  pathParameters?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /**
   * The id of the key API Gateway accepted on a private route (every route but /health): a sample id unless given;
   * null for a request that carried none.
   */
  apiKeyId?: string | null;
}

/** A key id as API Gateway shows them, for requests the sandbox sends through a private route. */
export const SAMPLE_API_KEY_ID = 'sandboxkey01';

/** A REST API proxy event. */
export function apiEvent(req: HttpRequest): APIGatewayProxyEvent {
  const headers = { Host: 'abc123.execute-api.us-east-1.amazonaws.com', 'User-Agent': 'sandbox', 'X-Forwarded-Proto': 'https', ...req.headers };
  const type = Object.entries(headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? '';
  const binary = req.body !== undefined && BINARY.some((re) => re.test(type));
  const raw = req.body === undefined ? undefined : typeof req.body === 'string' ? Buffer.from(req.body, 'utf8') : Buffer.from(req.body);
  const path = req.path ?? req.resource;
  const requestId = randomUUID();
  const apiKeyId = req.apiKeyId === undefined ? (req.resource === '/health' ? null : SAMPLE_API_KEY_ID) : req.apiKeyId;
  return {
    resource: req.resource,
    path,
    httpMethod: req.method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: req.query ?? null,
    multiValueQueryStringParameters: req.query ? Object.fromEntries(Object.entries(req.query).map(([k, v]) => [k, [v]])) : null,
    pathParameters: req.pathParameters ?? null,
    stageVariables: null,
    requestContext: {
      accountId: '000000000000',
      apiId: 'abc123',
      authorizer: null,
      domainName: headers.Host,
      domainPrefix: 'abc123',
      extendedRequestId: requestId,
      httpMethod: req.method,
      identity: {
        accessKey: null,
        accountId: null,
        // API Gateway passes the key itself too; nothing of ours reads it.
        apiKey: apiKeyId ? 'sandbox-key-value-not-read' : null,
        apiKeyId,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: '203.0.113.7',
        user: null,
        userAgent: headers['User-Agent'],
        userArn: null,
      },
      path: `/prod${path}`,
      protocol: 'HTTP/1.1',
      requestId,
      requestTime: new Date().toUTCString(),
      requestTimeEpoch: Date.now(),
      resourceId: 'abc123',
      resourcePath: req.resource,
      stage: 'prod',
    },
    body: raw === undefined ? null : binary ? raw.toString('base64') : raw.toString('utf8'),
    isBase64Encoded: binary,
  };
}

/** A multipart/form-data body and its Content-Type, as a browser or curl -F would send it. */
export function multipartBody(parts: Array<{ name: string; filename?: string; type?: string; data: Uint8Array | string }>): {
  body: Buffer;
  contentType: string;
} {
  const boundary = `----sandbox${randomUUID().replace(/-/g, '')}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${p.type ? `Content-Type: ${p.type}\r\n` : ''}\r\n`));
    chunks.push(typeof p.data === 'string' ? Buffer.from(p.data) : Buffer.from(p.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** An S3 ObjectCreated:Put notification for one object (keys are URL-encoded, spaces as '+', as S3 sends them). */
export function s3Event(bucket: string, object: { key: string; size: number; eTag: string }): S3Event {
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: new Date().toISOString(),
        eventName: 'ObjectCreated:Put',
        userIdentity: { principalId: 'AWS:AIDAEXAMPLE' },
        requestParameters: { sourceIPAddress: '203.0.113.7' },
        responseElements: { 'x-amz-request-id': randomUUID(), 'x-amz-id-2': randomUUID() },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'image-classifier-uploads',
          bucket: { name: bucket, ownerIdentity: { principalId: 'AEXAMPLE' }, arn: `arn:aws:s3:::${bucket}` },
          object: {
            key: encodeURIComponent(object.key).replace(/%2F/g, '/').replace(/%20/g, '+'),
            size: object.size,
            eTag: object.eTag.replace(/"/g, ''),
            sequencer: Date.now().toString(16).toUpperCase(),
          },
        },
      },
    ],
  };
}

/** An SQS event source mapping's batch, from messages as ReceiveMessage returned them. */
export function sqsEvent(
  queueArn: string,
  messages: Array<{ MessageId?: string; ReceiptHandle?: string; Body?: string; Attributes?: Record<string, string> }>,
): SQSEvent {
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId ?? randomUUID(),
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      attributes: {
        ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
        SentTimestamp: m.Attributes?.SentTimestamp ?? String(Date.now()),
        SenderId: m.Attributes?.SenderId ?? 'AIDAEXAMPLE',
        ApproximateFirstReceiveTimestamp: m.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: createHash('md5')
        .update(m.Body ?? '')
        .digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: queueArn,
      awsRegion: 'us-east-1',
    })),
  };
}
