// `npm run keys:create -- --name <client> [--plan <name>] [--stage prod] [--region r]`: a new API key for one client
// of the deployed stack, on its usage plan, printed once. `--local [--rate N] [--burst N]`: an API_KEYS entry for
// `npm start` instead, with no AWS call.
import { parseArgs } from 'node:util';
import {
  APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanKeyCommand,
  DeleteApiKeyCommand,
  GetUsagePlansCommand,
} from '@aws-sdk/client-api-gateway';
import { parseApiKeys } from '../../config';
import { newApiKey } from '../../local/dev-key';

/** serverless.yml's `service`. */
const SERVICE = 'image-classifier';
const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface UsagePlan {
  id: string;
  name: string;
  stages: Array<{ apiId: string; stage: string }>;
  throttle?: { rateLimit?: number; burstLimit?: number };
  quota?: { limit?: number; period?: string };
}

/** The API Gateway calls a key's creation makes, so it can be driven without AWS. */
export interface KeyPorts {
  usagePlans(): Promise<UsagePlan[]>;
  createKey(name: string, description: string): Promise<{ id: string; value: string }>;
  attach(usagePlanId: string, keyId: string): Promise<void>;
  deleteKey(keyId: string): Promise<void>;
}

export interface CreatedKey {
  name: string;
  id: string;
  value: string;
  plan: UsagePlan;
}

/**
 * The names the plan may have: osls names the stack's plan `<service>-<stage>`, and a named plan of a
 * `usagePlan` list `<service>-<plan>-<stage>`; a plan made by hand goes by its own name.
 */
export const planNames = (stage: string, plan?: string): string[] => (plan ? [plan, `${SERVICE}-${plan}-${stage}`] : [`${SERVICE}-${stage}`]);

/** The plan among `plans` that has one of `names` and covers `stage`, or an error that lists what there is. */
export function choosePlan(plans: readonly UsagePlan[], names: readonly string[], stage: string): UsagePlan {
  const found = plans.find((p) => names.includes(p.name) && p.stages.some((s) => s.stage === stage));
  if (found) return found;
  const known = plans.map((p) => `${p.name} (${p.stages.map((s) => s.stage).join(', ') || 'no stage'})`).join('; ') || 'none';
  throw new Error(`no usage plan named ${names.join(' or ')} on stage ${stage}; the account has: ${known}. Deploy the stack first, or pass --plan`);
}

/**
 * Creates the key and puts it on the plan. A key that could not be attached is deleted: it would pass no request
 * and only confuse the next reader of the key list.
 */
export async function createClientKey(ports: KeyPorts, o: { client: string; stage: string; plan?: string }): Promise<CreatedKey> {
  if (!CLIENT_NAME.test(o.client)) throw new Error(`--name "${o.client}": 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  const plan = choosePlan(await ports.usagePlans(), planNames(o.stage, o.plan), o.stage);
  const name = `${SERVICE}-${o.stage}-${o.client}`;
  const key = await ports.createKey(name, `client ${o.client} of ${SERVICE} ${o.stage} (npm run keys:create)`);
  try {
    await ports.attach(plan.id, key.id);
  } catch (err: unknown) {
    await ports.deleteKey(key.id);
    throw err;
  }
  return { name, id: key.id, value: key.value, plan };
}

/** What the operator sees, once: the key, its limits and a request to try it with. */
export function describeCreated(k: CreatedKey, region: string): string {
  const t = k.plan.throttle;
  const q = k.plan.quota;
  const limits = [
    t?.rateLimit === undefined ? undefined : `${t.rateLimit} requests/s`,
    t?.burstLimit === undefined ? undefined : `burst ${t.burstLimit}`,
    q?.limit === undefined ? undefined : `${q.limit} per ${(q.period ?? 'DAY').toLowerCase()}`,
  ]
    .filter(Boolean)
    .join(', ');
  const stage = k.plan.stages[0];
  const url = stage ? `https://${stage.apiId}.execute-api.${region}.amazonaws.com/${stage.stage}/models` : '<API URL>/models';
  return [
    `API key ${k.name} (id ${k.id}) on usage plan ${k.plan.name}${limits ? `: ${limits}` : ''}`,
    `key: ${k.value}`,
    'Shown once: store it now (aws apigateway get-api-key --api-key <id> --include-value shows it again to an admin).',
    `  curl -H 'x-api-key: ${k.value}' ${url}`,
  ].join('\n');
}

/** `--local`: an API_KEYS entry, validated as `npm start` will validate it. */
export function localEntry(client: string, rate?: string, burst?: string): string {
  const entry = [client, newApiKey(), rate ?? '', burst ?? ''].join(':').replace(/:+$/, '');
  parseApiKeys(entry);
  return entry;
}

function apiGatewayPorts(client: APIGatewayClient): KeyPorts {
  return {
    async usagePlans() {
      const plans: UsagePlan[] = [];
      let position: string | undefined;
      do {
        const page = await client.send(new GetUsagePlansCommand({ position, limit: 500 }));
        for (const p of page.items ?? []) {
          if (!p.id || !p.name) continue;
          plans.push({
            id: p.id,
            name: p.name,
            stages: (p.apiStages ?? []).flatMap((s) => (s.apiId && s.stage ? [{ apiId: s.apiId, stage: s.stage }] : [])),
            ...(p.throttle ? { throttle: { rateLimit: p.throttle.rateLimit, burstLimit: p.throttle.burstLimit } } : {}),
            ...(p.quota ? { quota: { limit: p.quota.limit, period: p.quota.period } } : {}),
          });
        }
        position = page.position;
      } while (position);
      return plans;
    },
    async createKey(name, description) {
      const k = await client.send(new CreateApiKeyCommand({ name, description, enabled: true }));
      if (!k.id || !k.value) throw new Error('CreateApiKey answered without an id or value');
      return { id: k.id, value: k.value };
    },
    async attach(usagePlanId, keyId) {
      await client.send(new CreateUsagePlanKeyCommand({ usagePlanId, keyId, keyType: 'API_KEY' }));
    },
    async deleteKey(keyId) {
      await client.send(new DeleteApiKeyCommand({ apiKey: keyId }));
    },
  };
}

const USAGE =
  'usage: npm run keys:create -- --name <client> [--plan <name>] [--stage prod] [--region us-east-1]\n       npm run keys:create -- --name <client> --local [--rate N] [--burst N]';

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      name: { type: 'string' },
      plan: { type: 'string' },
      stage: { type: 'string', default: 'prod' },
      region: { type: 'string' },
      local: { type: 'boolean', default: false },
      rate: { type: 'string' },
      burst: { type: 'string' },
    },
  });
  if (!values.name) throw new Error(USAGE);
  if (values.local) {
    const entry = localEntry(values.name, values.rate, values.burst);
    console.log(
      `API_KEYS entry for ${values.name}:\n${entry}\nAdd it to API_KEYS (comma-separated) and restart npm start; with API_KEYS set, the development key counts only if listed too.`,
    );
    return;
  }
  const region = values.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const client = new APIGatewayClient({ region });
  try {
    const created = await createClientKey(apiGatewayPorts(client), {
      client: values.name,
      stage: values.stage,
      ...(values.plan ? { plan: values.plan } : {}),
    });
    console.log(describeCreated(created, region));
  } finally {
    client.destroy();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(`keys:create failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
