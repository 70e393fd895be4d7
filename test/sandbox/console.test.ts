// The packaged console function run as Lambda runs it: the page and its assets come from inside its one bundle
// (there is no src/console in /var/task), links follow the API Gateway stage, and load reports are not served.
import { apiEvent, type HttpRequest } from '../../src/tools/deploy/events';
import { LambdaSandbox, readPackage } from '../../src/tools/deploy/sandbox';
import { type SandboxAws, startSandboxAws } from '../../src/tools/deploy/sandbox-aws';

jest.setTimeout(120_000);

const { functions } = readPackage();
const fn = functions.find((f) => f.name === 'console');
const bucket = String(functions.find((f) => f.name === 'predict')?.environment.BUCKET_NAME);
let aws: SandboxAws;
let sandbox: LambdaSandbox;

async function get(req: Omit<HttpRequest, 'method'>): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const inv = await sandbox.invoke(apiEvent({ method: 'GET', apiKeyId: null, ...req }));
  if (inv.error) throw new Error(`console failed: ${JSON.stringify(inv.error)}\n${sandbox.logs()}`);
  const { statusCode, headers, body } = inv.result as { statusCode: number; headers: Record<string, string>; body: string };
  return { status: statusCode, headers, body };
}

beforeAll(async () => {
  if (!fn) throw new Error('no console function in the package');
  aws = await startSandboxAws(bucket);
  sandbox = await LambdaSandbox.start(fn, aws.options);
});

afterAll(async () => {
  await sandbox?.stop();
  await aws?.close();
});

describe('the console function, packaged', () => {
  it('serves the page under the stage path, its assets from the bundle, cacheable for good at their version', async () => {
    // Act
    const page = await get({ resource: '/' });
    // Assess
    expect(page.status).toBe(200);
    expect(page.headers['Content-Type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('<base href="/prod/">');
    expect(page.body).toContain('data-reports="false"');
    // Uploads may go to the bucket's endpoint alone: here the sandbox's stand-in for S3.
    expect(page.headers['Content-Security-Policy']).toContain(`connect-src 'self' ${new URL(aws.options.overrides?.S3_ENDPOINT ?? '').origin};`);
    const version = /console\/app\.js\?v=([0-9a-f]{12})/.exec(page.body)?.[1];
    expect(version).toBeDefined();
    const js = await get({ resource: '/console/{file}', path: '/console/app.js', pathParameters: { file: 'app.js' }, query: { v: version ?? '' } });
    expect(js).toMatchObject({
      status: 200,
      headers: { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'public, max-age=31536000, immutable' },
    });
    expect(js.body).toContain('image-classifier.apiKey');
  });

  it('names the stage URL as the server of /openapi.json, renders /docs, and serves no load reports', async () => {
    const doc = await get({ resource: '/openapi.json' });
    expect(doc.status).toBe(200);
    expect(JSON.parse(doc.body).servers[0].url).toBe('https://abc123.execute-api.us-east-1.amazonaws.com/prod');
    const docs = await get({ resource: '/docs' });
    expect(docs.status).toBe(200);
    expect(docs.body).toContain('id="op-predict"');
    const reports = await get({ resource: '/reports' });
    expect(reports.status).toBe(404);
    expect(JSON.parse(reports.body)).toMatchObject({ code: 'NOT_FOUND' });
  });
});
