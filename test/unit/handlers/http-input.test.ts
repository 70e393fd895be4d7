import type { APIGatewayProxyEvent } from 'aws-lambda';
import { readImages } from '../../../src/handlers/middleware/http-input';

const limits = { maxBodyBytes: 4_500_000, maxImageBytes: 4 * 1024 * 1024, maxBatchImages: 16 };
const event = (body: string, contentType: string) =>
  ({ headers: { 'Content-Type': contentType }, body: Buffer.from(body).toString('base64'), isBase64Encoded: true }) as unknown as APIGatewayProxyEvent;

describe('readImages, multipart', () => {
  it('answers a body cut off before its closing boundary with 400, and nothing escapes as an unhandled error', async () => {
    const escaped: unknown[] = [];
    const onUncaught = (err: unknown) => escaped.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const truncated = '--B\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\nabc';
      await expect(readImages(event(truncated, 'multipart/form-data; boundary=B'), limits, false)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      // The file stream's own error arrives on a later tick: give it the chance to escape.
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(escaped).toEqual([]);
  });
});
