import { corsHeaders } from '../../../src/handlers/middleware/cors';

describe('corsHeaders', () => {
  it('allows any origin with a wildcard, and never credentials', () => {
    const h = corsHeaders('https://evil.example', ['*']);
    expect(h['Access-Control-Allow-Origin']).toBe('*');
    expect(h['Access-Control-Allow-Credentials']).toBeUndefined();
    expect(h['Access-Control-Expose-Headers']).toContain('X-Request-Id');
  });

  it('echoes only a listed origin, and varies on Origin either way', () => {
    const allowed = ['https://app.example.com', 'https://admin.example.com'];
    expect(corsHeaders('https://admin.example.com', allowed)).toMatchObject({
      'Access-Control-Allow-Origin': 'https://admin.example.com',
      Vary: 'Origin',
    });
    const refused = corsHeaders('https://evil.example', allowed);
    expect(refused['Access-Control-Allow-Origin']).toBeUndefined();
    expect(refused.Vary).toBe('Origin');
    expect(corsHeaders(undefined, allowed)['Access-Control-Allow-Origin']).toBeUndefined();
  });
});
