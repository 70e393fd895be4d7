import { Worker } from 'node:worker_threads';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { localCredentials } from '../../src/handlers/deps/local-credentials';
import { CRASH_BODY, CRASH_TYPE } from '../hostile/corpus';
import { seed } from '../hostile/seeds';
import { API, authHeaders, call } from '../integration/helpers';

// Issue 11, "Done when": a malformed request of any kind costs at most its own connection. The crash request of defect 1
// and the nested JSON of defect 3 are sent in a loop while another client keeps classifying: none of its requests may
// fail, its p99 must stay within twice its idle p99, and the service must not restart.

const IDLE_SAMPLES = 100;
const HOSTILE_MS = 10_000;
/**
 * The absolute floor of the latency bound. Twice a tiny idle p99 (a few ms) is within what one scheduler time slice or
 * one young-generation GC pause adds on 2 shared cores, with nothing hostile running; below 10 ms the 2× rule would
 * measure the machine, not the service. A photo's /predict idles at 20–60 ms here, so the floor rarely applies.
 */
const FLOOR_MS = 10;

const p99 = (ms: readonly number[]): number => {
  const sorted = [...ms].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(sorted.length * 0.99) - 1)] ?? Number.NaN;
};

/** When the function process started, from /health (a restart moves it by the 10 s or more a start takes). */
async function processStart(): Promise<number> {
  const sentAt = Date.now();
  const res = await call('GET', '/health');
  expect(res.status).toBe(200);
  return (sentAt + Date.now()) / 2 - (res.body.uptimeSeconds as number) * 1000;
}

const photo = seed('goldfish.jpg');
let sent = 0;
/**
 * The photo with a counter after its end marker (decoders stop at EOI): every request is a distinct image, so the
 * response cache never answers and idle and loaded latencies both measure a real classification.
 */
const distinctPhoto = (): Uint8Array => new Uint8Array(Buffer.concat([photo, Buffer.from(`#${process.pid}-${sent++}`)]));

/** One /predict of the well-behaved client: its latency, or why it failed. */
async function predict(): Promise<{ ms: number; failure?: string }> {
  const started = performance.now();
  try {
    const res = await call('POST', '/predict', { body: distinctPhoto(), headers: { 'Content-Type': 'image/jpeg' } });
    const ms = performance.now() - started;
    return res.status === 200 ? { ms } : { ms, failure: `status ${res.status} ${JSON.stringify(res.body).slice(0, 200)}` };
  } catch (err: unknown) {
    return { ms: performance.now() - started, failure: String(err) };
  }
}

/**
 * The hostile client, on a thread of its own so that building and sending 5 MB bodies never delays the well-behaved
 * client's clock in this thread. Two loops run concurrently, each one request after another: the 120-byte truncated
 * multipart of defect 1, and 5 MB of `[` (over the body limit) alternating with 4 MB (under it) for defect 3.
 */
const HOSTILE_LOOPS = `
const { parentPort, workerData } = require('node:worker_threads');
// Linux nice values are per thread: this lowers only the attacker's thread, whose sending (write syscalls, loopback
// copies) would otherwise take the 2 cores from the service as no remote attacker's could.
if (process.platform === 'linux') require('node:os').setPriority(19);
const { url, headers, crashBody, crashType, durationMs } = workerData;
// Encoded once: the attacker's own CPU (UTF-8 encoding 5 MB per request) is not the service's cost, and shares its 2 cores.
const nested = [Buffer.from('['.repeat(5000000)), Buffer.from('['.repeat(4000000))];
async function loop(next) {
  const statuses = {};
  let errors = 0;
  let sent = 0;
  const end = Date.now() + durationMs;
  while (Date.now() < end) {
    const { body, type } = next(sent++);
    try {
      const res = await fetch(url + '/predict', { method: 'POST', body, headers: { ...headers, 'Content-Type': type } });
      await res.arrayBuffer();
      statuses[res.status] = (statuses[res.status] || 0) + 1;
    } catch {
      errors++;
    }
  }
  return { sent, statuses, errors };
}
parentPort.postMessage('started');
Promise.all([
  loop(() => ({ body: crashBody, type: crashType })),
  loop((n) => ({ body: nested[n % 2], type: 'application/json' })),
]).then(([crash, nestedJson]) => parentPort.postMessage({ crash, nestedJson }));
`;

interface LoopReport {
  sent: number;
  statuses: Record<string, number>;
  errors: number;
}

/**
 * Waits until the batch path has nothing queued or in flight: images an earlier test file dropped in the bucket are
 * classified in the background lane and take their share of the 2 cores, which neither baseline nor loop is about.
 */
async function batchPathIdle(): Promise<void> {
  const sqs = new SQSClient({ endpoint: `http://127.0.0.1:${process.env.SQS_PORT}`, region: 'us-east-1', ...localCredentials() });
  const QueueUrl = `http://127.0.0.1:${process.env.SQS_PORT}/000000000000/infer-queue`;
  try {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      const { Attributes: a = {} } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
      );
      if (Number(a.ApproximateNumberOfMessages) === 0 && Number(a.ApproximateNumberOfMessagesNotVisible) === 0) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error('the batch path did not drain within 120 s');
  } finally {
    sqs.destroy();
  }
}

describe('hostile loop: malformed requests cost only their own connection', () => {
  it("another client's /predict never fails and its p99 stays within 2× idle, and the service does not restart", async () => {
    await batchPathIdle();
    // Prepare: warm, then the idle baseline, one request after another: half before the loop, half after it (below),
    // so that a machine slower for a while (the suite's previous file winding down) is not read as the loop's cost.
    for (let i = 0; i < 20; i++) expect((await predict()).failure).toBeUndefined();
    const startedAt = await processStart();
    const idle: number[] = [];
    const sampleIdle = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const r = await predict();
        expect(r.failure).toBeUndefined();
        idle.push(r.ms);
      }
    };
    await sampleIdle(IDLE_SAMPLES / 2);

    // Act: the hostile loops for HOSTILE_MS while the well-behaved client keeps going.
    const worker = new Worker(HOSTILE_LOOPS, {
      eval: true,
      workerData: { url: API(), headers: authHeaders(), crashBody: CRASH_BODY, crashType: CRASH_TYPE, durationMs: HOSTILE_MS },
    });
    let hostile: { crash: LoopReport; nestedJson: LoopReport } | undefined;
    const finished = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: unknown) => {
        if (typeof m === 'object' && m !== null) {
          hostile = m as typeof hostile;
          resolve();
        }
      });
      worker.on('error', reject);
    });
    await new Promise<void>((resolve) => worker.once('message', () => resolve()));
    const loaded: number[] = [];
    const failures: string[] = [];
    let done = false;
    void finished.then(() => {
      done = true;
    });
    while (!done) {
      const r = await predict();
      loaded.push(r.ms);
      if (r.failure) failures.push(r.failure);
    }
    await finished;
    await worker.terminate();
    await sampleIdle(IDLE_SAMPLES / 2);

    // Assess
    const idleP99 = p99(idle);
    const loadedP99 = p99(loaded);
    const bound = Math.max(2 * idleP99, FLOOR_MS);
    const summary = { idleP99: Math.round(idleP99), loadedP99: Math.round(loadedP99), bound: Math.round(bound), requests: loaded.length, hostile };
    // The whole summary in the message: the idle and loaded figures are what a failure is read by.
    if (failures.length > 0)
      throw new Error(`${failures.length} of the other client's requests failed: ${JSON.stringify({ failures: failures.slice(0, 5), ...summary })}`);
    if (!(loadedP99 <= bound))
      throw new Error(`the other client's p99 ${Math.round(loadedP99)} ms is over ${Math.round(bound)} ms: ${JSON.stringify(summary)}`);
    // The hostile loops really ran, and were answered as what they are: client errors, never a 5xx.
    // At nice 19 the attacker still sends 150-180 crash and 120-150 nested requests a second here (129 / 94 in CI
    // unniced): a floor of a fifth of that proves it was not starved into harmlessness.
    expect(hostile?.crash.sent).toBeGreaterThan(HOSTILE_MS / 40);
    expect(hostile?.nestedJson.sent).toBeGreaterThan(HOSTILE_MS / 50);
    const statuses = [...Object.keys(hostile?.crash.statuses ?? {}), ...Object.keys(hostile?.nestedJson.statuses ?? {})].map(Number);
    expect(statuses.filter((s) => s < 400 || s >= 500)).toEqual([]);
    expect(Math.abs((await processStart()) - startedAt)).toBeLessThan(3000);
  });
});
