import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { renderComparisonHtml, writeRunReport } from '../../src/tools/load/report';
import { renderSweepHtml } from '../../src/tools/load/sweep';

const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const FIXTURE = path.join(__dirname, '..', 'fixtures', 'load', 'smoke-run');

/** Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium's --screenshot writes). */
function decodePng(buf: Buffer): { width: number; height: number; pixel(x: number, y: number): [number, number, number] } {
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 4;
  const idat: Buffer[] = [];
  while (offset < buf.length) {
    const len = buf.readUInt32BE(offset);
    const type = buf.toString('ascii', offset + 4, offset + 8);
    const data = buf.subarray(offset + 8, offset + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[12] !== 0) throw new Error('only 8-bit non-interlaced PNGs are supported');
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0;
      if (channels === 0) throw new Error(`unsupported PNG colour type ${data[9]}`);
    } else if (type === 'IDAT') idat.push(data);
    offset += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const px = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] ?? 0;
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i] ?? 0;
      const a = i >= channels ? (px[y * stride + i - channels] ?? 0) : 0;
      const b = y > 0 ? (px[(y - 1) * stride + i] ?? 0) : 0;
      const c = y > 0 && i >= channels ? (px[(y - 1) * stride + i - channels] ?? 0) : 0;
      let v = x;
      if (filter === 1) v = x + a;
      else if (filter === 2) v = x + b;
      else if (filter === 3) v = x + ((a + b) >> 1);
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v = x + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      }
      px[y * stride + i] = v & 0xff;
    }
  }
  return {
    width,
    height,
    pixel: (x, y) => {
      const i = y * stride + x * channels;
      return [px[i] ?? 0, px[i + 1] ?? 0, px[i + 2] ?? 0];
    },
  };
}

function chromium(args: string[], profile: string): Buffer {
  return execFileSync(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
      ...args,
    ],
    { timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 32 * 1024 * 1024 },
  );
}

/** Pixels close to a series colour: only a drawn line produces them. */
function countColour(png: ReturnType<typeof decodePng>, hex: string): number {
  const want = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  let n = 0;
  for (let y = 0; y < png.height; y++) {
    for (let x = 0; x < png.width; x++) {
      const p = png.pixel(x, y);
      if (p.every((v, i) => Math.abs(v - (want[i] ?? 0)) <= 12)) n++;
    }
  }
  return n;
}

describe('load report renders offline in headless Chromium', () => {
  let work: string;
  let profile: string;

  beforeAll(() => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium (or set CHROMIUM_BIN)`);
    work = mkdtempSync(path.join(tmpdir(), 'load-render-'));
    profile = mkdtempSync(path.join(tmpdir(), 'load-chromium-'));
    cpSync(FIXTURE, path.join(work, 'smoke'), { recursive: true });
  });

  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  });

  it('draws the four over-time charts of a run report', () => {
    // Prepare
    const report = writeRunReport(path.join(work, 'smoke'));
    const html = path.join(work, 'smoke', 'report.html');
    const shot = path.join(work, 'smoke.png');
    // Act
    const dom = chromium(['--dump-dom', `file://${html}`], profile).toString('utf8');
    chromium(['--window-size=1400,1800', '--hide-scrollbars', `--screenshot=${shot}`, `file://${html}`], profile);
    // Assess
    expect(report.stats.requests).toBe(67);
    const md = readFileSync(path.join(work, 'smoke', 'report.md'), 'utf8');
    expect(md).toMatch(/## What this traffic would cost on AWS\n/);
    expect(md).toMatch(/67 answered API requests/);
    expect(md).toMatch(/client-observed latency/); // the fixture's samples predate the in-function duration
    expect(md).toMatch(/\| API Gateway \| \$0\.000235 \| \$3\.50 \|/);
    expect(dom).toMatch(/<h2>What this traffic would cost on AWS<\/h2>/);
    const paths = [...dom.matchAll(/<path class="series" data-series="([^"]+)" d="([^"]+)"/g)];
    expect(paths.map((m) => m[1])).toEqual(['RPS', 'p50', 'p95', 'p99', 'users', 'failures', 'shed']);
    for (const m of paths) expect((m[2] ?? '').split(/[ML]/).filter(Boolean).length).toBeGreaterThanOrEqual(3);
    const png = decodePng(readFileSync(shot));
    expect(png.width).toBe(1400);
    expect(countColour(png, '#2471a3')).toBeGreaterThan(300); // RPS line
    expect(countColour(png, '#8e44ad')).toBeGreaterThan(300); // active users line
    expect(countColour(png, '#c0392b')).toBeGreaterThan(300); // p99 line (and the verdict text)
  });

  it('draws the comparison and sweep curves with their markers', () => {
    // Prepare: two copies of the run at different populations make a two-point progression.
    const small = writeRunReport(path.join(work, 'smoke'));
    const big = {
      ...small,
      name: 'bigger',
      meta: { ...small.meta, peakUsers: 20, scenario: 'moderate' },
      stats: { ...small.stats, rps: small.stats.rps * 1.05, okRps: small.stats.okRps * 1.05 },
    };
    writeFileSync(path.join(work, 'comparison.html'), renderComparisonHtml([small, big]));
    writeFileSync(
      path.join(work, 'sweep.html'),
      renderSweepHtml({
        dir: work,
        mix: 'predict',
        stepS: 20,
        thinkScale: 1,
        steps: [1, 2, 4, 8].map((users, i) => ({
          users,
          rps: [1, 2, 3.9, 4][i] ?? 0,
          okRps: [1, 2, 3.9, 4][i] ?? 0,
          p99: [40, 42, 60, 400][i] ?? 0,
          p50: 20,
          p95: 30,
          requests: 10,
          failures: 0,
          shed: 0,
          nonSuccessRate: 0,
          dir: work,
        })),
        knee: { users: 8, p99: 400, index: 3, reference: 40 },
        ceiling: { users: 4, rps: 4, index: 3 },
      }),
    );
    // Act
    const comparison = chromium(['--dump-dom', `file://${path.join(work, 'comparison.html')}`], profile).toString('utf8');
    const sweep = chromium(['--dump-dom', `file://${path.join(work, 'sweep.html')}`], profile).toString('utf8');
    // Assess
    expect(comparison.match(/<path class="series"/g)?.length).toBe(8);
    expect(comparison).toMatch(/Throughput ceiling: successful RPS stops growing with users past 5 users/);
    expect(sweep.match(/<path class="series"/g)?.length).toBe(4);
    expect(sweep.match(/<line class="marker"/g)?.length).toBe(4); // knee and ceiling, on both charts
  });
});
