// What AWS needs that the emulators forgive, asserted on the template `npm run package` generated.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readPackage } from '../../src/tools/deploy/sandbox';

type Resource = { Type: string; Properties: Record<string, any>; DependsOn?: unknown };
const { template, functions } = readPackage();
const resources = template.Resources as Record<string, Resource>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const one = (type: string): Resource => {
  const found = ofType(type);
  expect(found).toHaveLength(1);
  return (found[0] as [string, Resource])[1];
};
const statements = (role: Resource): Array<{ Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown }> =>
  (role.Properties.Policies ?? []).flatMap((p: { PolicyDocument: { Statement: unknown[] } }) => p.PolicyDocument.Statement);
const actions = (s: { Action: string | string[] }) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const roleOf = (fn: string) => {
  const ref = resources[`${fn.replace(/^./, (c) => c.toUpperCase())}LambdaFunction`]?.Properties.Role['Fn::GetAtt'][0] as string;
  return { id: ref, role: resources[ref] as Resource };
};

describe('the bucket', () => {
  const bucket = ofType('AWS::S3::Bucket').find(([id]) => id !== 'ServerlessDeploymentBucket')?.[1] as Resource;

  it('is kept when a deploy would replace or delete it', () => {
    const [, raw] = ofType('AWS::S3::Bucket').find(([id]) => id !== 'ServerlessDeploymentBucket') as [
      string,
      Resource & { DeletionPolicy?: string; UpdateReplacePolicy?: string },
    ];
    expect(raw.DeletionPolicy).toBe('Retain');
    expect(raw.UpdateReplacePolicy).toBe('Retain');
  });

  it('blocks all public access and encrypts by default', () => {
    expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
  });

  it('expires uploads, results and job records, and aborts abandoned multipart uploads', () => {
    const rules = bucket.Properties.LifecycleConfiguration.Rules as Array<{
      Prefix: string;
      ExpirationInDays?: number;
      AbortIncompleteMultipartUpload?: unknown;
    }>;
    for (const prefix of ['uploads/', 'results/', 'jobs/']) {
      expect(rules.find((r) => r.Prefix === prefix)?.ExpirationInDays).toBeGreaterThan(0);
    }
    expect(rules.some((r) => r.AbortIncompleteMultipartUpload)).toBe(true);
  });

  it('lets browsers PUT to presigned URLs (CORS) and notifies ingest of uploads/ only', () => {
    const rule = bucket.Properties.CorsConfiguration.CorsRules[0];
    expect(rule.AllowedMethods).toEqual(expect.arrayContaining(['PUT', 'GET']));
    const notification = bucket.Properties.NotificationConfiguration.LambdaConfigurations[0];
    expect(notification.Filter.S3Key.Rules).toEqual([{ Name: 'prefix', Value: 'uploads/' }]);
  });

  it('refuses plain HTTP', () => {
    const policy = ofType('AWS::S3::BucketPolicy').find(([, r]) => r.Properties.Bucket === bucket.Properties.BucketName)?.[1] as Resource;
    const deny = policy.Properties.PolicyDocument.Statement.find((s: { Effect: string }) => s.Effect === 'Deny');
    expect(deny).toMatchObject({ Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
    expect(deny.Resource).toEqual([`arn:aws:s3:::${bucket.Properties.BucketName}`, `arn:aws:s3:::${bucket.Properties.BucketName}/*`]);
  });
});

describe('IAM', () => {
  const roles = ofType('AWS::IAM::Role').map(([, r]) => r);

  it('grants only actions that exist, and no wildcard on data', () => {
    for (const role of roles) {
      for (const s of statements(role)) {
        expect(actions(s)).not.toContain('s3:HeadObject');
        expect(actions(s).filter((a) => a.endsWith(':*'))).toEqual([]);
        if (s.Resource === '*' || (Array.isArray(s.Resource) && s.Resource.includes('*')))
          expect(actions(s).every((a) => a.startsWith('xray:'))).toBe(true);
      }
    }
  });

  it('gives the functions that touch no data no S3 or SQS rights, and leaves osls no default role to widen', () => {
    for (const fn of ['predict', 'predictBatch', 'health', 'models', 'metrics']) {
      const granted = statements(roleOf(fn).role).flatMap(actions);
      expect({ fn, granted: granted.filter((a) => a.startsWith('s3:') || a.startsWith('sqs:')) }).toEqual({ fn, granted: [] });
    }
    expect(resources.IamRoleLambdaExecution).toBeUndefined();
    const pollers = Object.entries(resources).filter(
      ([, r]) => r.Type === 'AWS::IAM::Role' && statements(r).flatMap(actions).includes('sqs:ReceiveMessage'),
    );
    expect(pollers.map(([id]) => id)).toEqual([roleOf('inferSqs').id]);
  });

  it('lets every role that reads objects list the bucket, so a missing key is a 404 and not a 403', () => {
    for (const fn of ['createJob', 'getJob', 'getJobResults', 'ingest', 'inferSqs']) {
      const all = statements(roleOf(fn).role);
      const list = all.find((x) => actions(x).includes('s3:ListBucket'));
      expect({ fn, list: list?.Resource, condition: list?.Condition }).toEqual({
        fn,
        list: [expect.stringMatching(/^arn:aws:s3:::[^/]+$/)],
        condition: undefined,
      });
    }
  });

  it('gives each batch function a role of its own kind, scoped to prefixes', () => {
    const ids = ['createJob', 'ingest', 'inferSqs'].map((fn) => roleOf(fn).id);
    expect(new Set(ids).size).toBe(3);
    for (const fn of ['createJob', 'getJob', 'getJobResults', 'ingest', 'inferSqs']) {
      for (const s of statements(roleOf(fn).role).filter((x) => actions(x).some((a) => a.startsWith('s3:') && a !== 's3:ListBucket'))) {
        for (const r of s.Resource as string[]) expect(r).toMatch(/^arn:aws:s3:::[^/]+\/(uploads|jobs|results)\/\*$/);
      }
    }
    const worker = statements(roleOf('inferSqs').role).flatMap(actions);
    expect(worker).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes']));
  });
});

describe('access control', () => {
  const methods = ofType('AWS::ApiGateway::Method').map(([id, r]): Record<string, any> => ({ id, ...r.Properties }));
  const gatewayResponse = (type: string) =>
    ofType('AWS::ApiGateway::GatewayResponse').find(([, r]) => r.Properties.ResponseType === type)?.[1].Properties;

  it('requires an API key on every route but GET /health, the console and the CORS preflights', () => {
    // The console's page, assets and docs are public: the page asks for a key itself.
    const ofConsole = (m: Record<string, any>) => JSON.stringify(m.Integration ?? {}).includes('ConsoleLambdaFunction');
    expect(methods.filter((m) => ofConsole(m) && m.HttpMethod !== 'OPTIONS').every((m) => m.ApiKeyRequired !== true)).toBe(true);
    const open = methods.filter((m) => m.ApiKeyRequired !== true && !ofConsole(m)).map((m) => m.id);
    expect(open.every((id) => id === 'ApiGatewayMethodHealthGet' || id.endsWith('Options'))).toBe(true);
    expect(open).toContain('ApiGatewayMethodHealthGet');
    const keyed = methods.filter((m) => m.ApiKeyRequired === true).map((m) => m.HttpMethod);
    expect(keyed.length).toBeGreaterThanOrEqual(7);
    expect(methods.filter((m) => m.HttpMethod === 'OPTIONS').every((m) => m.ApiKeyRequired !== true)).toBe(true);
  });

  it('puts every key on a usage plan with a per-client throttle and a daily quota, tied to the stage', () => {
    const plan = one('AWS::ApiGateway::UsagePlan');
    expect(plan.Properties.Throttle.RateLimit).toBeGreaterThan(0);
    expect(plan.Properties.Throttle.BurstLimit).toBeGreaterThanOrEqual(plan.Properties.Throttle.RateLimit);
    expect(plan.Properties.Quota).toMatchObject({ Limit: expect.any(Number), Period: 'DAY' });
    expect(plan.Properties.ApiStages).toEqual([{ ApiId: { Ref: 'ApiGatewayRestApi' }, Stage: 'prod' }]);
    const [[keyId, key]] = ofType('AWS::ApiGateway::ApiKey') as [[string, Resource]];
    // No Value: API Gateway generates it, and it never sits in the template.
    expect(key.Properties.Value).toBeUndefined();
    expect(key.Properties.StageKeys).toEqual([{ RestApiId: { Ref: 'ApiGatewayRestApi' }, StageName: 'prod' }]);
    const [usagePlanId] = ofType('AWS::ApiGateway::UsagePlan').map(([id]) => id);
    expect(one('AWS::ApiGateway::UsagePlanKey').Properties).toEqual({ KeyId: { Ref: keyId }, KeyType: 'API_KEY', UsagePlanId: { Ref: usagePlanId } });
  });

  it("answers a missing or wrong key 401 and throttling 429 with Retry-After, in the functions' error shape", () => {
    for (const type of ['INVALID_API_KEY', 'MISSING_AUTHENTICATION_TOKEN']) {
      const r = gatewayResponse(type);
      expect({ type, status: r?.StatusCode }).toEqual({ type, status: '401' });
      expect(r?.ResponseParameters['gatewayresponse.header.WWW-Authenticate']).toMatch(/^'ApiKey /);
      expect(JSON.parse(r?.ResponseTemplates['application/json'])).toMatchObject({ code: 'UNAUTHORIZED', requestId: '$context.requestId' });
    }
    for (const type of ['THROTTLED', 'QUOTA_EXCEEDED']) {
      const r = gatewayResponse(type);
      expect({ type, status: r?.StatusCode }).toEqual({ type, status: '429' });
      expect(r?.ResponseParameters['gatewayresponse.header.Retry-After']).toMatch(/^'[1-9]\d*'$/);
      expect(r?.ResponseParameters['gatewayresponse.header.Access-Control-Expose-Headers']).toContain('Retry-After');
      expect(JSON.parse(r?.ResponseTemplates['application/json'])).toMatchObject({ code: 'RATE_LIMITED' });
    }
  });

  it("has the functions trust API Gateway's key check, and hold no keys themselves", () => {
    for (const f of functions) {
      expect({ name: f.name, mode: f.environment.AUTH_MODE, keys: f.environment.API_KEYS }).toEqual({
        name: f.name,
        mode: 'gateway',
        keys: undefined,
      });
    }
  });
});

describe('nothing uploaded is lost', () => {
  it('sends an S3 event ingest failed on to a queue after its retries', () => {
    const config = one('AWS::Lambda::EventInvokeConfig');
    expect(config.Properties.FunctionName).toEqual({ Ref: 'IngestLambdaFunction' });
    expect(config.Properties.DestinationConfig.OnFailure.Destination).toEqual({ 'Fn::GetAtt': ['IngestFailureQueue', 'Arn'] });
    const send = statements(roleOf('ingest').role).find((s) => actions(s).includes('sqs:SendMessage'));
    expect(send?.Resource).toEqual(expect.arrayContaining([{ 'Fn::GetAtt': ['IngestFailureQueue', 'Arn'] }]));
  });

  it('keeps dead letters longer than the work queue keeps messages, and never redelivers a running batch', () => {
    const queue = resources.InferQueue as Resource;
    const dlq = resources.InferDeadLetterQueue as Resource;
    expect(dlq.Properties.MessageRetentionPeriod).toBeGreaterThan(queue.Properties.MessageRetentionPeriod);
    const worker = functions.find((f) => f.name === 'inferSqs');
    expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * (worker?.timeoutSeconds ?? Infinity));
    expect(queue.Properties.RedrivePolicy.deadLetterTargetArn).toEqual({ 'Fn::GetAtt': ['InferDeadLetterQueue', 'Arn'] });
  });
});

describe('operations', () => {
  it('alarms on dead letters, ingest failures, 5xx rate, throttles and predict p99 latency', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, r]) => r.Properties);
    const has = (namespace: string, metric: string) => alarms.filter((a) => a.Namespace === namespace && a.MetricName === metric);
    expect(has('AWS/SQS', 'ApproximateNumberOfMessagesVisible')).toHaveLength(2);
    expect(has('AWS/ApiGateway', '5XXError')).toHaveLength(1);
    expect(has('AWS/Lambda', 'Throttles')).toHaveLength(1);
    // API Gateway's per-route Latency needs detailed metrics (off): the function's Duration always has data.
    expect(has('AWS/Lambda', 'Duration')[0]).toMatchObject({
      ExtendedStatistic: 'p99',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'PredictLambdaFunction' } }],
    });
    for (const a of alarms) expect(a.AlarmActions).toEqual([{ Ref: 'AlarmTopic' }]);
  });

  it('throttles the API stage after each deploy, and puts no StageDescription on the deployment (a redeploy would fail)', () => {
    expect(one('AWS::ApiGateway::Deployment').Properties.StageDescription).toBeUndefined();
    const state = JSON.parse(readFileSync(path.join(path.dirname(functions[0]?.zip ?? ''), 'serverless-state.json'), 'utf8'));
    expect(state.service.plugins).toContain('./src/tools/deploy/stage-settings.js');
    const { rateLimit, burstLimit } = state.service.custom.stageThrottle;
    expect(Number(rateLimit)).toBeGreaterThan(0);
    expect(Number(burstLimit)).toBeGreaterThanOrEqual(Number(rateLimit));
  });

  it("gives API Gateway's own 4xx and 5xx answers CORS headers", () => {
    const responses = ofType('AWS::ApiGateway::GatewayResponse').map(([, r]) => r.Properties);
    expect(responses.map((r) => r.ResponseType)).toEqual(expect.arrayContaining(['DEFAULT_4XX', 'DEFAULT_5XX']));
    for (const r of responses) expect(r.ResponseParameters['gatewayresponse.header.Access-Control-Allow-Origin']).toMatch(/^'.+'$/);
  });

  it('deploys in a new account: no function over 3,008 MB by default', () => {
    for (const f of functions) expect({ name: f.name, ok: f.memoryMb <= 3008 }).toEqual({ name: f.name, ok: true });
  });

  it('answers every browser route a CORS preflight', () => {
    const options = ofType('AWS::ApiGateway::Method').filter(([, r]) => r.Properties.HttpMethod === 'OPTIONS');
    expect(options.length).toBeGreaterThanOrEqual(7);
  });
});
