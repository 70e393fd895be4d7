// osls plugin (serverless.yml `plugins`): puts custom.stageThrottle on the API Gateway stage as the stage's own
// throttling, which osls has no setting for. osls creates the stage through its Deployment resource, so the
// settings go in that Deployment's StageDescription. Plain CommonJS: osls loads it before anything is built.

class StageSettings {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = { 'before:package:finalize': () => this.apply() };
  }

  apply() {
    const { service } = this.serverless;
    const throttle = service.custom?.stageThrottle;
    if (!throttle) return;
    const rate = Number(throttle.rateLimit);
    const burst = Number(throttle.burstLimit);
    if (!Number.isFinite(rate) || !Number.isInteger(burst) || rate <= 0 || burst <= 0) {
      throw new Error(`custom.stageThrottle: rateLimit and burstLimit must be positive numbers, got ${JSON.stringify(throttle)}`);
    }
    const resources = service.provider.compiledCloudFormationTemplate.Resources;
    const deployments = Object.values(resources).filter((r) => r.Type === 'AWS::ApiGateway::Deployment');
    if (deployments.length !== 1) throw new Error(`stage-settings: expected one API Gateway deployment, found ${deployments.length}`);
    const deployment = deployments[0];
    deployment.Properties.StageDescription = {
      ...deployment.Properties.StageDescription,
      // osls sets tracing on the stage after deploy; stating it here keeps CloudFormation from turning it off.
      TracingEnabled: Boolean(service.provider.tracing?.apiGateway),
      ThrottlingRateLimit: rate,
      ThrottlingBurstLimit: burst,
      MethodSettings: [{ ResourcePath: '/*', HttpMethod: '*', ThrottlingRateLimit: rate, ThrottlingBurstLimit: burst }],
    };
  }
}

module.exports = StageSettings;
