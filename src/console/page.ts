/** What GET / and its assets are made of, and the headers that keep the page to itself. */

/** The console's built files: the page template, its script and style sheet, and a version that changes with them. */
export interface ConsoleAssets {
  /** A hash of the files: the assets' URLs carry it, so they may be cached for good. */
  version: string;
  index: string;
  files: Record<string, { contentType: string; body: string }>;
}

/** Where the page is served and what this deployment offers. */
export interface PageContext {
  /** The API root as the browser sees it, ending in `/` (`/prod/` behind an API Gateway stage). */
  base: string;
  stage: string;
  /** Whether GET /reports is served (npm start only). */
  reports: boolean;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The console page for one request. */
export function renderIndex(assets: ConsoleAssets, ctx: PageContext): string {
  const values: Record<string, string> = { base: ctx.base, stage: ctx.stage, reports: String(ctx.reports), version: assets.version };
  return assets.index.replace(/\{\{(\w+)\}\}/g, (_, k: string) => esc(values[k] ?? ''));
}

/**
 * The API root of a request as the browser sees it: the request's path minus the route's, so that behind a stage
 * (`/prod/docs` for route `/docs`) relative links reach the API. Anything odd falls back to `/`.
 */
export function basePathOf(requestPath: string | undefined, routePath: string): string {
  const request = (requestPath ?? '').replace(/\/+$/, '');
  const route = routePath.replace(/\/+$/, '');
  if (!request.endsWith(route)) return '/';
  const base = `${request.slice(0, request.length - route.length)}/`;
  return /^\/(?:[A-Za-z0-9._~-]+\/)*$/.test(base) ? base : '/';
}

/**
 * Headers of an HTML page of ours: scripts and styles only from this origin, no inline code, uploads only to
 * `uploadOrigins` (the bucket), never framed.
 */
export function pageHeaders(uploadOrigins: readonly string[]): Record<string, string> {
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob: data:",
    `connect-src 'self' ${uploadOrigins.join(' ')}`.trim(),
    "base-uri 'self'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': csp,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  };
}

/** The origins a presigned POST of this bucket may point at: the endpoint set (local S3), else S3's own names. */
export function bucketOrigins(bucket: string, region: string, endpoint: string | undefined): string[] {
  if (endpoint) {
    try {
      return [new URL(endpoint).origin];
    } catch {
      return [];
    }
  }
  return [`https://${bucket}.s3.amazonaws.com`, `https://${bucket}.s3.${region}.amazonaws.com`, `https://s3.${region}.amazonaws.com`];
}
