// Artillery processor for artillery/load.yml: a fixed, looping population of Locust-style users.
//
// Artillery picks scenarios at random by `weight`; we want exact proportions and a population that
// stays for the whole phase, so there is one scenario whose single request step is rewritten by
// `prepareRequest` from a small per-user state machine, and whose loop ends when the user's cohort
// window closes. Artillery counts 4xx/5xx as successes and reports neither p66/p80/p98 nor
// per-endpoint failures, so every response (and socket error) is also written as one JSON line to
// LOAD_SAMPLES_DIR and mirrored as custom counters/histograms.
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { threadId } = require('node:worker_threads');

const IMAGES_DIR = process.env.TEST_IMAGES_DIR || path.resolve(__dirname, '..', '..', 'shared', 'images');
/** The five "predict user" photos: clear ImageNet subjects, 35–85 KB. */
const PREDICT_PHOTOS = (process.env.LOAD_PHOTOS || 'goldfish.jpg,pelican.jpeg,bald_eagle.jpeg,orange.png,cat_224x224.png')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);

/** 6 predict : 3 light : 1 heavy, interleaved so that even a 4-user smoke run meets every class. */
const MIX_PATTERN = ['predict', 'light', 'predict', 'heavy', 'predict', 'light', 'predict', 'predict', 'light', 'predict'];
/** `--mix locust`: the classic Locust reports' weights, predict 3 : light 1 : heavy 1, and no batch uploaders. */
const LOCUST_PATTERN = ['predict', 'light', 'predict', 'heavy', 'predict'];
/** Among each 20 users, the 10th becomes a batch uploader when uploaders are on (weight 1/20). */
const UPLOADER_SLOT = 9;
const UPLOADER_CYCLE = 20;
const UPLOAD_COUNT = 20;
const POLL_INTERVAL_MS = 2000;
const JOB_TIMEOUT_MS = 180_000;

const THINK = {
  predict: [1000, 3000],
  light: [2000, 5000],
  heavy: [5000, 10000],
  uploader: [10000, 20000],
};

const mix = (process.env.LOAD_MIX || 'default').toLowerCase();
const uploadersOn = /^(1|on|true|yes)$/i.test(process.env.LOAD_BATCH_UPLOADERS || 'off');
const thinkScale = Number.isFinite(Number(process.env.LOAD_THINK_SCALE)) ? Number(process.env.LOAD_THINK_SCALE || 1) : 1;
const model = process.env.LOAD_MODEL || '';
/** Every virtual user's credential (the runner passes API_KEY); never sent to presigned upload URLs. */
const apiKey = process.env.API_KEY || '';

/**
 * Cohorts: [{users, spawnRate, startS, endS}] relative to the first arrival in this worker. Arrivals
 * are matched to a cohort by time, not by index, so the mapping survives Artillery splitting arrivals
 * across several workers on bigger machines.
 */
function loadPlan() {
  if (process.env.LOAD_PLAN) return JSON.parse(process.env.LOAD_PLAN);
  const durationS = Number(process.env.LOAD_DURATION_S || 30);
  return [{ users: 4, spawnRate: 2, startS: 0, endS: durationS }];
}
const plan = loadPlan();

const distinct = PREDICT_PHOTOS.join() === 'all';
let images;
function photos() {
  if (images) return images;
  if (!fs.existsSync(IMAGES_DIR)) throw new Error(`test photos not found in ${IMAGES_DIR}; set TEST_IMAGES_DIR`);
  const all = fs
    .readdirSync(IMAGES_DIR)
    .filter((f) => /\.(png|jpe?g|webp)$/i.test(f))
    .sort()
    .map((name) => ({
      name,
      type: /\.png$/i.test(name) ? 'image/png' : /\.webp$/i.test(name) ? 'image/webp' : 'image/jpeg',
      data: fs.readFileSync(path.join(IMAGES_DIR, name)),
    }));
  // LOAD_PHOTOS=all: predict users take every photo in turn (a folder of distinct variants: no two requests repeat).
  const chosen = distinct ? all : PREDICT_PHOTOS.map((n) => all.find((p) => p.name === n)).filter(Boolean);
  images = { all, predict: chosen.length > 0 ? chosen : all.slice(0, 5) };
  return images;
}

let samplesFd;
function writeSample(sample) {
  const dir = process.env.LOAD_SAMPLES_DIR;
  if (!dir) return;
  // Synchronous appends: a worker thread can be torn down without warning, a buffer would lose its tail.
  if (samplesFd === undefined) {
    fs.mkdirSync(dir, { recursive: true });
    samplesFd = fs.openSync(path.join(dir, `samples-${process.pid}-${threadId}.jsonl`), 'a');
  }
  fs.writeSync(samplesFd, `${JSON.stringify(sample)}\n`);
}

let t0;
let arrivals = 0;

function classFor(index) {
  if (mix === 'locust') return LOCUST_PATTERN[index % LOCUST_PATTERN.length];
  if (mix !== 'default') return mix;
  if (uploadersOn && index % UPLOADER_CYCLE === UPLOADER_SLOT) return 'uploader';
  return MIX_PATTERN[index % MIX_PATTERN.length];
}

function cohortEnd(nowS) {
  // The cohort whose spawn window (plus slack for scheduling jitter) holds this arrival.
  let chosen = plan[0];
  for (const c of plan) {
    const spawnS = c.users / Math.max(c.spawnRate, 0.001);
    if (nowS >= c.startS - 1 && nowS <= c.startS + spawnS + 2) chosen = c;
  }
  return chosen ? chosen.endS : 30;
}

function randomBetween([min, max]) {
  return (min + Math.random() * (max - min)) * thinkScale;
}

/**
 * With distinct photos (LOAD_PHOTOS=all), one turn counter for every user of this worker, as locustfile.py keeps:
 * per-user counters would start every user at the same photo and send it many times over.
 */
let sharedTurn = 0;
const photoAt = (list, user, offset = 0) => list[(distinct ? sharedTurn++ : user.iteration + offset) % list.length];

function multipart(files, field = 'files') {
  const boundary = `----load${crypto.randomBytes(8).toString('hex')}`;
  const parts = [];
  for (const f of files) {
    parts.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${f.name}"\r\nContent-Type: ${f.type}\r\n\r\n`),
      f.data,
      Buffer.from('\r\n'),
    );
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

function query() {
  return model ? `?model=${encodeURIComponent(model)}` : '';
}

/** The next requests of one user, each with the think time that follows it. */
function nextActions(user) {
  const p = photos();
  switch (user.cls) {
    case 'predict': {
      const photo = photoAt(p.predict, user);
      // The Locust mix sends its photo as locustfile.py does: multipart, field `file`.
      const { body, contentType } = mix === 'locust' ? multipart([photo], 'file') : { body: photo.data, contentType: photo.type };
      return [
        {
          endpoint: 'POST /predict',
          method: 'POST',
          url: `/predict${query()}`,
          headers: { 'content-type': contentType },
          body,
          images: 1,
          think: THINK.predict,
        },
      ];
    }
    case 'light':
      // A Locust light user makes one of its two calls per turn, picked at random.
      if (mix === 'locust') {
        const [endpoint, url] = Math.random() < 0.5 ? ['GET /health', '/health'] : ['GET /metrics', '/metrics'];
        return [{ endpoint, method: 'GET', url, think: THINK.light }];
      }
      return [
        { endpoint: 'GET /health', method: 'GET', url: '/health', think: [0, 0] },
        { endpoint: 'GET /metrics', method: 'GET', url: '/metrics', think: THINK.light },
      ];
    case 'heavy': {
      const n = 5 + Math.floor(Math.random() * 6);
      const files = Array.from({ length: n }, (_, i) => photoAt(p.all, user, i));
      const { body, contentType } = multipart(files);
      return [
        {
          endpoint: 'POST /predict/batch',
          method: 'POST',
          url: `/predict/batch${query()}`,
          headers: { 'content-type': contentType },
          body,
          images: n,
          think: THINK.heavy,
        },
      ];
    }
    case 'uploader':
      return [
        {
          endpoint: 'POST /jobs',
          method: 'POST',
          url: '/jobs',
          headers: { 'content-type': 'application/json' },
          body: Buffer.from(JSON.stringify({ count: UPLOAD_COUNT, ...(model ? { model } : {}) })),
          think: [0, 0],
          onResponse: jobCreated,
        },
      ];
    default:
      throw new Error(`unknown user class ${user.cls}`);
  }
}

function jobCreated(user, res) {
  let job;
  try {
    job = typeof res.body === 'string' ? JSON.parse(res.body) : res.body;
  } catch {
    job = undefined;
  }
  if (res.statusCode >= 300 || !job || !job.jobId || !Array.isArray(job.uploads)) {
    user.queue = [];
    user.pendingThink = THINK.uploader;
    return;
  }
  const p = photos();
  const jobId = String(job.jobId);
  const uploads = job.uploads.map((u, i) => {
    const photo = p.all[i % p.all.length];
    return {
      endpoint: 'PUT upload',
      method: 'PUT',
      url: String(u.url),
      headers: { 'content-type': photo.type },
      body: photo.data,
      think: [0, 0],
    };
  });
  const createdAt = Date.now();
  const deadline = createdAt + JOB_TIMEOUT_MS;
  const poll = () => ({
    endpoint: 'GET /jobs/{id}',
    method: 'GET',
    url: `/jobs/${encodeURIComponent(jobId)}`,
    think: [0, 0],
    onResponse: (u, r) => {
      let status;
      try {
        status = JSON.parse(String(r.body)).status;
      } catch {
        status = undefined;
      }
      if (status === 'done' || status === 'failed' || r.statusCode >= 400) {
        u.emit('counter', `load.jobs.${status || r.statusCode}`, 1);
        if (status === 'done') u.emit('histogram', 'load.jobs.turnaround_ms', Date.now() - createdAt);
        u.pendingThink = THINK.uploader;
        return;
      }
      if (Date.now() > deadline) {
        u.emit('counter', 'load.jobs.timeout', 1);
        u.pendingThink = THINK.uploader;
        return;
      }
      u.pendingThink = POLL_INTERVAL_MS; // polling pace is not user think time: never scaled
      u.queue.push(poll());
    },
  });
  user.queue = [...uploads, poll()];
}

/** beforeScenario: class, cohort window and empty state for a new user. */
function initUser(context, events, done) {
  const now = Date.now();
  t0 ??= now;
  const index = arrivals++;
  const endAt = t0 + cohortEnd((now - t0) / 1000) * 1000;
  context.vars.$user = { cls: classFor(index), index, endAt, iteration: 0, queue: [], pendingThink: null };
  // A zero counter makes `load.failures == 0` a valid `ensure` expression on a clean run.
  events.emit('counter', 'load.failures', 0);
  events.emit('counter', `load.users.${context.vars.$user.cls}`, 1);
  done();
}

/** beforeRequest: turn the scenario's placeholder request into the user's next action. */
function prepareRequest(requestParams, context, events, done) {
  const user = context.vars.$user;
  if (user.queue.length === 0) {
    user.queue = nextActions(user);
    user.iteration++;
  }
  const action = user.queue.shift();
  user.current = action;
  user.emit = (type, name, value) => events.emit(type, name, value);
  requestParams.method = action.method;
  const presigned = /^https?:/.test(action.url);
  requestParams.url = presigned ? action.url : `${new URL(requestParams.url).origin}${action.url}`;
  requestParams.headers = { ...(requestParams.headers || {}), ...(!presigned && apiKey ? { 'x-api-key': apiKey } : {}), ...(action.headers || {}) };
  delete requestParams.json;
  if (action.body) requestParams.body = action.body;
  else delete requestParams.body;
  requestParams.name = action.endpoint;
  user.sentAt = Date.now();
  done();
}

/** Endpoints whose JSON answer carries the handler's own duration, `timings.totalMs`. */
const TIMED_ENDPOINTS = new Set(['POST /predict', 'POST /predict/batch']);

/**
 * The in-function duration the service reports, for the report's cost section: Lambda bills that, not
 * the client's latency with its network and queueing. Undefined when the body has none (shed and error
 * answers, other endpoints) or is not JSON.
 */
function functionMs(endpoint, response) {
  if (!TIMED_ENDPOINTS.has(endpoint)) return undefined;
  try {
    const body = typeof response.body === 'string' ? JSON.parse(response.body) : response.body;
    const v = body?.timings?.totalMs;
    return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v * 100) / 100 : undefined;
  } catch {
    return undefined;
  }
}

function slug(endpoint) {
  return endpoint.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '');
}

/** afterResponse: classify as ok / shed / failure and record the sample. */
function recordResponse(_requestParams, response, context, events, done) {
  const user = context.vars.$user;
  const action = user.current;
  const status = response.statusCode;
  const phases = response.timings?.phases || {};
  const ms = Number.isFinite(phases.total) ? phases.total : Date.now() - user.sentAt;
  const shed = (status === 503 || status === 429) && response.headers['retry-after'] !== undefined;
  const outcome = status >= 200 && status < 300 ? 'ok' : shed ? 'shed' : 'failure';
  if (outcome === 'failure') {
    events.emit('counter', 'load.failures', 1);
    events.emit('counter', `failures.${status}`, 1);
  } else if (outcome === 'shed') {
    events.emit('counter', 'load.shed', 1);
    events.emit('counter', `shed.${status}`, 1);
  } else {
    events.emit('counter', 'load.ok', 1);
  }
  events.emit('histogram', `latency.${slug(action.endpoint)}`, ms);
  const fnMs = functionMs(action.endpoint, response);
  writeSample({
    t: Date.now(),
    ep: action.endpoint,
    s: status,
    ms: Math.round(ms * 100) / 100,
    o: outcome,
    c: user.cls,
    ...(fnMs !== undefined ? { fnMs } : {}),
    ...(outcome === 'ok' && action.images ? { n: action.images } : {}),
  });
  user.pendingThink = action.think;
  if (action.onResponse) action.onResponse(user, response);
  done();
}

/** onError: socket errors and timeouts, which Artillery counts but our hooks would otherwise miss. */
function recordError(err, _requestParams, context, events, done) {
  const user = context.vars.$user;
  const action = user?.current;
  const code = err?.code || err?.name || 'Error';
  events.emit('counter', 'load.failures', 1);
  events.emit('counter', `failures.${code}`, 1);
  writeSample({
    t: Date.now(),
    ep: action ? action.endpoint : 'unknown',
    s: 0,
    ms: user ? Date.now() - user.sentAt : 0,
    o: 'failure',
    err: String(code),
    c: user ? user.cls : 'unknown',
  });
  done();
}

/** Think step: sleeps the pending think time, cut short at the end of the user's window. */
function think(context, _events, done) {
  const user = context.vars.$user;
  const pending = user.pendingThink || [0, 0];
  user.pendingThink = null;
  const ms = typeof pending === 'number' ? pending : randomBetween(pending);
  const wait = Math.max(0, Math.min(ms, user.endAt - Date.now()));
  if (wait <= 0) return done();
  setTimeout(done, wait);
}

/** whileTrue: keep looping while the user's cohort window is open. */
function keepGoing(context, next) {
  const user = context.vars.$user;
  next(Date.now() < user.endAt);
}

module.exports = { initUser, prepareRequest, recordResponse, recordError, think, keepGoing, classFor, cohortEnd };
