// Trigger: API Gateway, GET / (the web console), /console/{file}, /openapi.json, /docs and, under npm start only,
// /reports and /reports/{run} (the load reports of this checkout). Public: the page asks for a key itself.
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { config } from '../config';
import { basePathOf, bucketOrigins, type ConsoleAssets, pageHeaders, renderIndex } from '../console/page';
import { NotFoundError } from '../core/errors';
import { renderDocs } from '../openapi/docs';
import { openApiDocument } from '../openapi/document';
import { headerOf } from './middleware/headers';
import { type HttpResult, httpHandler } from './middleware/http';

/** Set by npm run bundle (src/tools/deploy/bundle.ts): the built console, inside the Lambda bundle. */
declare const __CONSOLE_ASSETS__: ConsoleAssets | undefined;

let assets: Promise<ConsoleAssets> | undefined;
/** The bundle's copy in AWS; under npm start, built from src/console once per process (esbuild is at hand there). */
const consoleAssets = (): Promise<ConsoleAssets> => {
  assets ??=
    typeof __CONSOLE_ASSETS__ === 'undefined'
      ? import('../console/assets')
          .then((m) => m.buildConsoleAssets())
          .catch((err: unknown) => {
            assets = undefined;
            throw err;
          })
      : Promise.resolve(__CONSOLE_ASSETS__);
  return assets;
};

const { limits, batch, stage, offline } = config();
const contractLimits = { ...limits, maxPresignedUrls: batch.maxPresignedUrls, presignExpiresSeconds: batch.presignExpiresSeconds };
const uploadOrigins = bucketOrigins(batch.bucket, batch.region, batch.s3Endpoint);
const HOST = /^[A-Za-z0-9.-]+(?::\d{1,5})?$/;
/** A load report is our own inline-styled HTML with no script: it may style itself, nothing more. */
const REPORT_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
  'Cache-Control': 'no-cache',
  'X-Content-Type-Options': 'nosniff',
};

const base = (event: APIGatewayProxyEvent): string => basePathOf(event.requestContext?.path, event.path);

/** The server of /openapi.json: this API as the caller reached it, so generated clients and "try it" point here. */
function serverUrl(event: APIGatewayProxyEvent): string {
  const host = headerOf(event, 'host');
  const proto = headerOf(event, 'x-forwarded-proto') === 'https' ? 'https' : 'http';
  const root = base(event).replace(/\/$/, '');
  return host && HOST.test(host) ? `${proto}://${host}${root}` : root || '/';
}

const notFound = (what: string) => new NotFoundError('NOT_FOUND', what);

async function route(event: APIGatewayProxyEvent): Promise<HttpResult> {
  const resource = event.resource ?? event.path;
  switch (resource) {
    case '/': {
      const built = await consoleAssets();
      return { headers: pageHeaders(uploadOrigins), body: renderIndex(built, { base: base(event), stage, reports: offline }) };
    }
    case '/console/{file}': {
      const built = await consoleAssets();
      const name = event.pathParameters?.file ?? '';
      // Own names only: `__proto__` or `constructor` must not find something on the object's prototype.
      const file = Object.hasOwn(built.files, name) ? built.files[name] : undefined;
      if (!file) throw notFound('no such console asset');
      // The page asks for ?v=<version>: that URL's content never changes.
      const cache = event.queryStringParameters?.v === built.version ? 'public, max-age=31536000, immutable' : 'no-cache';
      return { headers: { 'Content-Type': file.contentType, 'Cache-Control': cache, 'X-Content-Type-Options': 'nosniff' }, body: file.body };
    }
    case '/openapi.json':
      return { headers: { 'Cache-Control': 'no-cache' }, body: openApiDocument(contractLimits, serverUrl(event)) };
    case '/docs': {
      const built = await consoleAssets();
      const doc = openApiDocument(contractLimits, serverUrl(event));
      return { headers: pageHeaders([]), body: renderDocs(doc, { base: base(event), stylesheet: `console/app.css?v=${built.version}` }) };
    }
    case '/reports': {
      if (!offline) throw notFound('load reports are served by npm start only');
      const { listLoadReports } = await import('../console/reports');
      return { headers: { 'Cache-Control': 'no-cache' }, body: listLoadReports() };
    }
    case '/reports/{run}': {
      if (!offline) throw notFound('load reports are served by npm start only');
      const { loadReportHtml } = await import('../console/reports');
      const html = loadReportHtml(event.pathParameters?.run ?? '');
      if (html === undefined) throw notFound('no such load report');
      return { headers: REPORT_HEADERS, body: html };
    }
    default:
      throw notFound('no such page');
  }
}

export const handler = httpHandler(route, { access: 'public' });
