import { type ReplayPorts, replayIngestFailures } from '../../../../src/tools/cli/ingest-replay';

const record = (key: string) =>
  JSON.stringify({
    version: '1.0',
    requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 3 },
    requestPayload: { Records: [{ eventSource: 'aws:s3', s3: { bucket: { name: 'b' }, object: { key, eTag: 'e' } } }] },
    responsePayload: { errorType: 'Error', errorMessage: 'S3 was unreachable' },
  });

function fakes(bodies: string[], failing: (payload: string) => boolean) {
  const queue = bodies.map((body, i) => ({ messageId: `m${i}`, receiptHandle: `r${i}`, body }));
  const invoked: string[] = [];
  const removed: string[] = [];
  let cursor = 0;
  const ports: ReplayPorts = {
    receive: async (max) => {
      const batch = queue.slice(cursor, cursor + max);
      cursor += batch.length;
      return batch;
    },
    invoke: async (payload) => {
      invoked.push(payload);
      return failing(payload) ? { ok: false, error: 'Unhandled' } : { ok: true };
    },
    remove: async (handle) => {
      removed.push(handle);
    },
  };
  return { ports, invoked, removed };
}

describe('replayIngestFailures', () => {
  it('invokes ingest with the original S3 event and deletes only the records it replayed', async () => {
    const { ports, invoked, removed } = fakes([record('uploads/j/a.jpg'), record('uploads/j/b.jpg'), 'garbage'], (p) => p.includes('b.jpg'));
    const outcome = await replayIngestFailures(ports, 100);
    expect(invoked.map((p) => JSON.parse(p).Records[0].s3.object.key)).toEqual(['uploads/j/a.jpg', 'uploads/j/b.jpg']);
    expect(removed).toEqual(['r0']);
    expect(outcome.replayed).toBe(1);
    expect(outcome.failed.map((f) => f.messageId)).toEqual(['m1', 'm2']);
  });

  it('stops at --max', async () => {
    const { ports, invoked } = fakes(
      Array.from({ length: 25 }, (_, i) => record(`uploads/j/${i}.jpg`)),
      () => false,
    );
    expect((await replayIngestFailures(ports, 12)).replayed).toBe(12);
    expect(invoked).toHaveLength(12);
  });
});
