// The web console in a real browser: Debian's Chromium driven by playwright-core (no browser download), against the
// integration stack, with every request outside this machine refused. Screenshots are kept as artifacts (the path
// is printed); CONSOLE_SCREENSHOTS_DIR=src/console/screenshots also writes the README's small copies.
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import sharp from 'sharp';
import { reportsDir } from '../../src/shared/paths';
import { EXPECTED_TOP5 } from '../../src/tools/bench/reference-top5';
import { photoPath } from '../fixtures/paths';
import { API, call, keyOf } from './helpers';

const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const MODEL = 'mobilenetv2-int8';
const top1 = (name: string): string => EXPECTED_TOP5[MODEL]?.[name]?.[0]?.label ?? '';
/** ../shared/images/SOURCE.md: chelsea.png is a tabby cat, "281 tabby / 282 tiger cat / 285 Egyptian cat". */
const CAT_CLASSES = ['tabby', 'tiger cat', 'Egyptian cat'];

const shots = mkdtempSync(path.join(tmpdir(), 'console-screenshots-'));
const readme = process.env.CONSOLE_SCREENSHOTS_DIR ? path.resolve(process.env.CONSOLE_SCREENSHOTS_DIR) : undefined;
const profile = mkdtempSync(path.join(tmpdir(), 'console-chromium-'));
const work = mkdtempSync(path.join(tmpdir(), 'console-work-'));
/** Every URL the browser asked for that is not this machine's (or a blob: or data: of the page's own). */
const foreign: string[] = [];
let context: BrowserContext;
let page: Page;

const local = (url: string) => /^(blob:|data:|about:)/.test(url) || /^https?:\/\/(127\.0\.0\.1|localhost)(:\d+)?\//.test(url);

async function screenshot(name: string): Promise<void> {
  const file = path.join(shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (readme) {
    mkdirSync(readme, { recursive: true });
    // Small for the repository: half size, a 64-colour palette.
    const png = await sharp(file).resize({ width: 960 }).png({ palette: true, colours: 64, compressionLevel: 9 }).toBuffer();
    writeFileSync(path.join(readme, `${name}.png`), png);
  }
}

const text = async (selector: string) => ((await page.locator(selector).textContent()) ?? '').trim();
/**
 * Page-side code as source text: it runs in the browser, against the DOM, which this project's (Node) types do not
 * describe. A function's source is called with the matched element(s).
 */
const inPage = <T>(code: string): Promise<T> => page.evaluate(code) as Promise<T>;
const onAll = <T>(selector: string, fn: string): Promise<T> => inPage<T>(`(${fn})([...document.querySelectorAll(${JSON.stringify(selector)})])`);
/** Polls from here: the page's CSP (no eval) refuses the in-page polling of waitForFunction, as it should. */
async function until(condition: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await inPage<boolean>(`Boolean(${condition})`))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${condition}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium (or set CHROMIUM_BIN)`);
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Nothing but loopback resolves, and whatever is not loopback goes to a proxy that is not there.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
      '--proxy-server=http://127.0.0.1:9',
    ],
  });
  context.on('request', (req) => {
    if (!local(req.url())) foreign.push(req.url());
  });
  page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${API()}/`);
  expect(errors).toEqual([]);
});

afterAll(async () => {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
  console.log(`console screenshots: ${shots}${readme ? ` (and ${readme})` : ''}`);
});

describe('the console in Chromium', () => {
  it('asks for the API key once, and keeps it for the session only', async () => {
    // Prepare
    const dialog = page.locator('#key-dialog');
    await expect(dialog.isVisible()).resolves.toBe(true);
    // Act
    await page.fill('#key-input', process.env.API_KEY ?? '');
    await page.click('#key-form button[value=save]');
    // Assess
    await until("document.querySelectorAll('#classify-model option').length >= 2");
    expect(await text('#key-state')).toBe('set');
    expect(await inPage('Object.keys(localStorage).length')).toBe(0);
    expect(await inPage("sessionStorage.getItem('image-classifier.apiKey')")).toBe(process.env.API_KEY);
    await page.reload();
    await until("document.querySelectorAll('#classify-model option').length >= 2");
    expect(await dialog.isVisible()).toBe(false);
  });

  it('classifies a photo: preview, top-k bars, timings, request id; and shows an API error as the API says it', async () => {
    // Act
    await page.setInputFiles('#classify-file', photoPath('chelsea.png'));
    await page.waitForSelector('#classify-result:not([hidden])');
    // Assess
    const labels = await page.locator('#classify-bars li .bar-label').allInnerTexts();
    expect(labels).toHaveLength(5);
    expect(labels[0]).toBe(top1('chelsea.png'));
    expect(CAT_CLASSES).toContain(labels[0]);
    expect(await inPage("document.querySelector('#classify-preview').naturalWidth")).toBe(451);
    const timings = await page.locator('#classify-timings dd').allInnerTexts();
    expect(timings).toHaveLength(4);
    for (const t of timings) expect(t).toMatch(/^\d+(\.\d)? ms$/);
    expect(await text('#classify-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    await screenshot('classify');

    // Act: bytes that are no image
    const notAnImage = path.join(work, 'notes.jpg');
    writeFileSync(notAnImage, 'these are notes, not a photo');
    await page.setInputFiles('#classify-file', notAnImage);
    await page.waitForSelector('#classify-error:not([hidden])');
    // Assess
    expect(await text('#classify-error')).toMatch(/^400 INVALID_IMAGE .+ · request id [0-9a-f-]{36}$/);
    expect(await page.locator('#classify-result').isHidden()).toBe(true);
    await page.setInputFiles('#classify-file', photoPath('chelsea.png'));
    await page.waitForSelector('#classify-result:not([hidden])');
  });

  it('runs a folder as a batch job: uploads with progress, live counts, a row per file with its thumbnail; downloads', async () => {
    // Prepare: a folder with two photos, a file that is no image, and a hidden file the console leaves out.
    const folder = path.join(work, 'holiday');
    mkdirSync(folder);
    cpSync(photoPath('chelsea.png'), path.join(folder, 'chelsea.png'));
    cpSync(photoPath('rocket.jpg'), path.join(folder, 'rocket.jpg'));
    writeFileSync(path.join(folder, 'notes.jpg'), 'not a photo either');
    writeFileSync(path.join(folder, '.DS_Store'), 'finder junk');
    await page.click('#tab-batch');
    // Act
    await page.setInputFiles('#batch-folder', folder);
    expect(await text('#batch-selection')).toMatch(/^3 file\(s\), .+ \(1 skipped/);
    await page.click('#batch-run');
    await until("document.querySelector('#batch-status').textContent === 'done'", 90_000);
    await until("document.querySelectorAll('#batch-results tbody tr').length === 3");
    // A thumbnail is an object URL the browser decodes after the row is in the DOM: read its size once it has settled.
    await until("[...document.querySelectorAll('#batch-results img.thumb')].every((img) => img.complete)");
    // Assess
    const upload = await inPage<number[]>(
      "[document.querySelector('#batch-upload-progress').value, document.querySelector('#batch-upload-progress').max]",
    );
    expect(upload[0]).toBe(upload[1]);
    expect(await text('#batch-done')).toBe('2');
    expect(await text('#batch-failed')).toBe('1');
    const rows = await onAll(
      '#batch-results tbody tr',
      "(trs) => trs.map((tr) => ({ file: tr.children[1].textContent, top1: tr.querySelector('.top1').textContent, error: tr.children[4].textContent, thumb: tr.querySelector('img.thumb')?.naturalWidth ?? 0 }))",
    );
    expect(rows).toEqual([
      { file: 'holiday_chelsea.png', top1: top1('chelsea.png'), error: '', thumb: 451 },
      { file: 'holiday_notes.jpg', top1: '–', error: expect.stringMatching(/^INVALID_IMAGE /), thumb: 0 },
      { file: 'holiday_rocket.jpg', top1: top1('rocket.jpg'), error: '', thumb: 640 },
    ]);
    const links = await onAll<string[]>('#batch-downloads a', '(as) => as.map((a) => a.href)');
    expect(links).toHaveLength(2);
    const csv = await (await fetch(links[1] ?? '')).text();
    expect(csv.split('\n')[0]).toMatch(/^key,ok,label/);
    await screenshot('batch');
  });

  it('charts live metrics in the operate view, with the models and readiness', async () => {
    // Prepare: traffic to chart, and a client over its rate.
    await page.click('#tab-operate');
    const traffic = (async () => {
      for (let i = 0; i < 12; i++) {
        // Never sent before, by this run or an earlier one: a repeated image may be answered from a cache, classifying nothing.
        const background = { r: Math.floor(Math.random() * 256), g: Math.floor(Math.random() * 256), b: i };
        const png = await sharp({ create: { width: 96, height: 96, channels: 3, background } })
          .png()
          .toBuffer();
        await call('POST', '/predict', { body: new Uint8Array(png), headers: { 'Content-Type': 'image/png' } });
        if (i % 4 === 0) await Promise.all(Array.from({ length: 6 }, () => call('GET', '/models', { headers: { 'x-api-key': keyOf('noisy') } })));
        await new Promise((r) => setTimeout(r, 400));
      }
    })();
    // Act: a chart has data once two scrapes frame some requests.
    await until(
      "['chart-rps', 'chart-latency', 'chart-images'].every((id) => [...document.querySelectorAll('#' + id + ' path.series')].some((p) => Number(p.dataset.points) >= 2 && Number(p.dataset.max) > 0))",
    );
    await traffic;
    // Assess
    const series = await onAll<string[]>('#chart-rps path.series', '(ps) => ps.map((p) => p.dataset.series)');
    expect(series).toEqual(expect.arrayContaining(['200']));
    const line = await page.locator('#chart-latency path.series[data-series="p99"]').getAttribute('d');
    expect((line ?? '').split('L').length).toBeGreaterThanOrEqual(2);
    expect(await text('#operate-health')).toMatch(/^Readiness: ready · default model mobilenetv2-int8/);
    const models = await onAll<string[][]>(
      '#operate-models tbody tr',
      "(trs) => trs.map((tr) => [tr.children[0].firstChild.textContent, tr.children[2].querySelector('code').title])",
    );
    expect(models.map(([name]) => name)).toEqual(['mobilenet-v1-0.75-fp32', 'mobilenetv2-int8']);
    for (const [, sha] of models) expect(sha).toMatch(/^[0-9a-f]{64}$/);
    await page.waitForTimeout(2500);
    await screenshot('operate');
  });

  it('lists the load reports with their verdicts, each opening its report', async () => {
    // Prepare: the load fixture as a run under the reports folder the stack reads.
    const run = `zz-console-test-${process.pid}`;
    const root = reportsDir();
    const createdRoot = !existsSync(root);
    mkdirSync(root, { recursive: true });
    cpSync(path.join(__dirname, '..', 'fixtures', 'load', 'smoke-run'), path.join(root, run), { recursive: true });
    try {
      // Act
      await page.click('#tab-reports');
      const row = page.locator('#reports-table tbody tr', { hasText: run });
      await row.waitFor();
      // Assess
      const cells = await row.locator('td').allTextContents();
      expect(cells.slice(0, 5)).toEqual([run, 'smoke', '5', '30 s', '67']);
      expect(cells[5]).toMatch(/^NOT READY errors /);
      const href = await row.locator('a').getAttribute('href');
      const report = await context.newPage();
      await report.goto(new URL(href ?? '', `${API()}/`).toString());
      expect(await report.title()).toBe(`Load test ${run}`);
      expect(await report.locator('svg').count()).toBeGreaterThan(0);
      await report.close();
      await screenshot('reports');
    } finally {
      rmSync(createdRoot ? root : path.join(root, run), { recursive: true, force: true });
    }
  });

  it('renders /docs from the OpenAPI document, offline', async () => {
    await page.goto(`${API()}/docs`);
    expect(await text('h1')).toMatch(/^Image classifier API/);
    expect(await page.locator('section.op').count()).toBeGreaterThanOrEqual(14);
    expect(await text('#op-predict')).toMatch(/multipart\/form-data/);
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.screenshot({ path: path.join(shots, 'docs.png') });
    await page.goto(`${API()}/#classify`);
  });

  it('is usable from the keyboard, with a label on every control', async () => {
    // Prepare
    await page.locator('#tab-classify').focus();
    // Act
    await page.keyboard.press('ArrowRight');
    // Assess
    expect(await inPage('[document.activeElement.id, location.hash]')).toEqual(['tab-batch', '#batch']);
    expect(await page.locator('#view-batch').isVisible()).toBe(true);
    await page.keyboard.press('End');
    expect(await inPage('document.activeElement.id')).toBe('tab-reports');
    const unlabelled = await onAll<string[]>(
      'input, select, button',
      "(els) => els.filter((el) => el.labels?.length === 0 && !el.getAttribute('aria-label') && !el.textContent.trim()).map((el) => el.id)",
    );
    expect(unlabelled).toEqual([]);
  });

  it('asked for nothing outside this machine', () => {
    expect(foreign).toEqual([]);
  });
});
