// The osls plugin that throttles the API stage after each deploy, driven with a fake API Gateway client.
const StageSettings = require('../../../../src/tools/deploy/stage-settings.js');

function fakeServerless(custom: Record<string, unknown>) {
  return {
    service: { custom },
    getProvider: () => ({
      naming: { getApiGatewayName: () => 'prod-image-classifier' },
      getApiGatewayStage: () => 'prod',
      getAwsSdkV3Config: async () => ({}),
    }),
  };
}

describe('stage-settings plugin', () => {
  it('patches the deployed stage with the configured throttling, finding the REST API by name across pages', async () => {
    const sent: Array<{ name: string; input: any }> = [];
    const client = {
      send: async (command: { constructor: { name: string }; input: any }) => {
        sent.push({ name: command.constructor.name, input: command.input });
        if (command.constructor.name === 'GetRestApisCommand') {
          return command.input.position
            ? { items: [{ name: 'prod-image-classifier', id: 'abc123' }] }
            : { items: [{ name: 'other', id: 'x' }], position: 'p2' };
        }
        return {};
      },
    };
    const plugin = new StageSettings(fakeServerless({ stageThrottle: { rateLimit: '200', burstLimit: '400' } }), {}, {});
    await plugin.apply(client);
    const update = sent.find((s) => s.name === 'UpdateStageCommand');
    expect(update?.input).toEqual({
      restApiId: 'abc123',
      stageName: 'prod',
      patchOperations: [
        { op: 'replace', path: '/*/*/throttling/rateLimit', value: '200' },
        { op: 'replace', path: '/*/*/throttling/burstLimit', value: '400' },
      ],
    });
  });

  it('refuses nonsense at package time, before anything is deployed', () => {
    const plugin = new StageSettings(fakeServerless({ stageThrottle: { rateLimit: 'lots', burstLimit: 1 } }), {}, {});
    expect(() => plugin.hooks['before:package:finalize']()).toThrow(/stageThrottle/);
  });
});
