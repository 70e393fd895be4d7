import path from 'node:path';
import { runCost } from '../../../../src/tools/load/cost';
import { loadRun, renderRunHtml, renderRunMarkdown } from '../../../../src/tools/load/report';
import { parseSamples } from '../../../../src/tools/load/stats';

const FIXTURE = path.join(__dirname, '..', '..', '..', 'fixtures', 'load', 'smoke-run');
const section = (md: string) => md.slice(md.indexOf('## What this traffic would cost on AWS'), md.indexOf('## Over time'));

describe('run report: cost section', () => {
  it('prices the fixture run, whose older samples carry no in-function duration, at the client latency', () => {
    // Prepare
    const r = loadRun(FIXTURE, undefined, 3008);
    // Act
    const md = section(renderRunMarkdown(r));
    // Assess
    expect(r.cost).toMatchObject({ requests: 67, inFunction: 0, clientObserved: 67, memoryMb: 3008 });
    expect(md).toMatch(/67 answered API requests, shed and failed answers included/);
    expect(md).toMatch(/3008 MB, 1\.70 vCPU/);
    expect(md).toMatch(/client-observed latency .*upper bound/);
    expect(md).toMatch(/us-east-1 list prices .*`src\/tools\/deploy\/pricing\.ts`, not measurements/);
    // 67 × $3.50/M; Lambda 67 × $0.20/M + 3,467 ms × 2.9375 GB × $0.0000166667/GB-s.
    expect(md).toMatch(/\| API Gateway \| \$0\.000235 \| \$3\.50 \|/);
    expect(md).toMatch(/\| Total \| \$0\.000418 \| \$6\.23 \|/);
  });

  it('says so when the samples carry the in-function duration', () => {
    // Prepare: a sample line as processor.js now writes it, through the same parser the report uses.
    const r = loadRun(FIXTURE, undefined, 1769);
    const samples = parseSamples(`${JSON.stringify({ t: 2, ep: 'POST /predict', s: 200, ms: 90, o: 'ok', c: 'predict', fnMs: 41.5 })}\n`);
    const report = { ...r, cost: runCost(samples, 1769) };
    // Act
    const md = section(renderRunMarkdown(report));
    const html = renderRunHtml(report);
    // Assess
    expect(md).toMatch(/in-function time each answer reports \(`timings\.totalMs`\), mean 41\.5 ms/);
    expect(md).toMatch(/1769 MB, 1\.00 vCPU/);
    expect(html).toMatch(/<h2>What this traffic would cost on AWS<\/h2>/);
    expect(html).toMatch(/<code>timings\.totalMs<\/code>/);
  });
});

describe('run report: CPU budget', () => {
  it("shows the rest of the machine as 0, not negative, when the processes' own times exceed the machine's total", () => {
    // Prepare: the two counters are read at different moments; over minutes they differ by a second or so
    const cpu = {
      wallS: 180,
      cores: 2,
      machineBusyS: 320,
      processes: [
        { label: 'serverless-offline', pid: 10, cpuS: 285, threads: [] },
        { label: 'locust', pid: 11, cpuS: 37.2, threads: [] },
      ],
      loadavg: { start: '0.10 0.10 0.10 1/100 1', end: '1.80 1.50 0.90 1/100 1' },
    };
    // Act
    const md = renderRunMarkdown({ ...loadRun(FIXTURE, undefined, 3008), cpu });
    // Assess
    expect(md).toMatch(/\| everything else on the machine \| {2}\| 0(\.0+)? \| 0\.00 \| 0(\.0)? ?% \|/);
    expect(md).toMatch(/\| machine \(all processes\) \| {2}\| 320(\.0+)? \|/);
  });

  it("shows a difference beyond the counters' skew as it is, negative, and says so", () => {
    // Prepare: the processes claim 10 % more than the machine was busy: a counting fault, not skew
    const cpu = {
      wallS: 180,
      cores: 2,
      machineBusyS: 300,
      processes: [{ label: 'serverless-offline', pid: 10, cpuS: 330, threads: [] }],
      loadavg: { start: '0.10 0.10 0.10 1/100 1', end: '1.80 1.50 0.90 1/100 1' },
    };
    // Act
    const md = renderRunMarkdown({ ...loadRun(FIXTURE, undefined, 3008), cpu });
    // Assess
    expect(md).toMatch(/\| everything else on the machine \(negative: the counts disagree\) \| {2}\| -30(\.0+)? \|/);
  });
});
