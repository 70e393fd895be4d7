// osls plugin (serverless.yml `plugins`): puts custom.stageThrottle on the API Gateway stage, which osls has no
// setting for. After each deploy it patches the stage with UpdateStage, as osls itself does for tracing and logs.
// Not in the template: a Deployment's StageDescription only applies when it creates the stage, and CloudFormation
// refuses it on every later deploy (osls names a new Deployment each time, for a stage that then exists).
// Plain CommonJS: osls loads it before anything is built.
const { APIGatewayClient, GetRestApisCommand, UpdateStageCommand } = require('@aws-sdk/client-api-gateway');

/** The stage-wide throttling patch for UpdateStage, from custom.stageThrottle. */
function throttlePatch(throttle) {
  const rate = Number(throttle?.rateLimit);
  const burst = Number(throttle?.burstLimit);
  if (!Number.isFinite(rate) || !Number.isInteger(burst) || rate <= 0 || burst <= 0) {
    throw new Error(`custom.stageThrottle: rateLimit and burstLimit must be positive numbers, got ${JSON.stringify(throttle)}`);
  }
  return [
    { op: 'replace', path: '/*/*/throttling/rateLimit', value: String(rate) },
    { op: 'replace', path: '/*/*/throttling/burstLimit', value: String(burst) },
  ];
}

class StageSettings {
  constructor(serverless, _options, { log } = {}) {
    this.serverless = serverless;
    this.log = log;
    this.hooks = {
      // Fails packaging, not the deploy, when the settings are wrong.
      'before:package:finalize': () => throttlePatch(this.serverless.service.custom?.stageThrottle),
      'after:deploy:deploy': () => this.apply(),
    };
  }

  async apply(client) {
    const { service } = this.serverless;
    const patchOperations = throttlePatch(service.custom?.stageThrottle);
    const provider = this.serverless.getProvider('aws');
    const apiGateway = client ?? new APIGatewayClient(await provider.getAwsSdkV3Config());
    const name = provider.naming.getApiGatewayName();
    let restApiId;
    let position;
    do {
      const page = await apiGateway.send(new GetRestApisCommand({ position, limit: 500 }));
      restApiId = (page.items ?? []).find((api) => api.name === name)?.id;
      position = page.position;
    } while (!restApiId && position);
    if (!restApiId) throw new Error(`stage-settings: no REST API named ${name}`);
    await apiGateway.send(new UpdateStageCommand({ restApiId, stageName: provider.getApiGatewayStage(), patchOperations }));
    this.log?.notice?.(`Stage throttling: ${patchOperations.map((p) => `${p.path.split('/').pop()} ${p.value}`).join(', ')}`);
  }
}

module.exports = StageSettings;
module.exports.throttlePatch = throttlePatch;
