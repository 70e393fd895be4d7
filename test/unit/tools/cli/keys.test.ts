import { parseApiKeys } from '../../../../src/config';
import { choosePlan, createClientKey, describeCreated, type KeyPorts, localEntry, planNames, type UsagePlan } from '../../../../src/tools/cli/keys';

const prodPlan: UsagePlan = {
  id: 'up1',
  name: 'image-classifier-prod',
  stages: [{ apiId: 'abc123', stage: 'prod' }],
  throttle: { rateLimit: 50, burstLimit: 100 },
  quota: { limit: 100000, period: 'DAY' },
};

function fakeGateway(plans: UsagePlan[], attachFails = false) {
  const keys = new Map<string, string>();
  const attached: Array<[string, string]> = [];
  const ports: KeyPorts = {
    usagePlans: async () => plans,
    createKey: async (name) => {
      const id = `id-${keys.size + 1}`;
      keys.set(id, name);
      return { id, value: 'generated-by-api-gateway-0123456789' };
    },
    attach: async (planId, keyId) => {
      if (attachFails) throw new Error('TooManyRequestsException');
      attached.push([planId, keyId]);
    },
    deleteKey: async (id) => {
      keys.delete(id);
    },
  };
  return { ports, keys, attached };
}

describe('keys:create', () => {
  it("finds the stack's plan by osls's names, on the stage asked for", () => {
    expect(planNames('prod')).toEqual(['image-classifier-prod']);
    expect(planNames('prod', 'gold')).toEqual(['gold', 'image-classifier-gold-prod']);
    const dev = { ...prodPlan, id: 'up2', name: 'image-classifier-dev', stages: [{ apiId: 'def', stage: 'dev' }] };
    expect(choosePlan([dev, prodPlan], planNames('prod'), 'prod').id).toBe('up1');
    expect(() => choosePlan([dev], planNames('prod'), 'prod')).toThrow(
      /no usage plan named image-classifier-prod on stage prod; the account has: image-classifier-dev \(dev\)/,
    );
  });

  it('creates a key named for the client and puts it on the plan', async () => {
    // Prepare
    const gw = fakeGateway([prodPlan]);
    // Act
    const created = await createClientKey(gw.ports, { client: 'acme', stage: 'prod' });
    // Assess
    expect(created).toMatchObject({ name: 'image-classifier-prod-acme', id: 'id-1', plan: { id: 'up1' } });
    expect(gw.attached).toEqual([['up1', 'id-1']]);
    const text = describeCreated(created, 'eu-west-1');
    expect(text).toContain('50 requests/s, burst 100, 100000 per day');
    expect(text).toContain("curl -H 'x-api-key: generated-by-api-gateway-0123456789' https://abc123.execute-api.eu-west-1.amazonaws.com/prod/models");
  });

  it('deletes a key it could not put on the plan, and refuses a bad client name before any call', async () => {
    const gw = fakeGateway([prodPlan], true);
    await expect(createClientKey(gw.ports, { client: 'acme', stage: 'prod' })).rejects.toThrow('TooManyRequestsException');
    expect(gw.keys.size).toBe(0);
    await expect(createClientKey(fakeGateway([prodPlan]).ports, { client: 'a b', stage: 'prod' })).rejects.toThrow(/--name "a b"/);
  });

  it('--local: prints an API_KEYS entry npm start accepts, with a fresh key each time', () => {
    const [a] = parseApiKeys(localEntry('acme', '5'));
    const [b] = parseApiKeys(localEntry('acme'));
    expect(a).toMatchObject({ name: 'acme', ratePerSecond: 5, burst: 10 });
    expect(b).toMatchObject({ ratePerSecond: 50, burst: 100 });
    expect(a?.key).not.toBe(b?.key);
    expect(() => localEntry('acme', '-1')).toThrow(/rate "-1"/);
  });
});
