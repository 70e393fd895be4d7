import { escapeXml } from '../../../src/shared/xml';

describe('escapeXml', () => {
  it('escapes the five characters markup gives meaning to, in text and in attributes', () => {
    expect(escapeXml(`<a href="x?b=1&c=2">it's</a>`)).toBe('&lt;a href=&quot;x?b=1&amp;c=2&quot;&gt;it&apos;s&lt;/a&gt;');
    expect(escapeXml('POST /predict 200')).toBe('POST /predict 200');
  });
});
