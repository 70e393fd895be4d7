// Module-load hooks: see register-offline-hooks.mjs for why each patch exists.
let binaryTypes = [];

export async function initialize(data) {
  binaryTypes = data.binaryTypes;
}

/** Patches by module, each `[anchor, replacement]`; an anchor must occur exactly once. */
const patches = () => ({
  '/serverless-offline/src/utils/index.js': [
    ['"multipart/form-data",', `"multipart/form-data", ${binaryTypes.map((t) => JSON.stringify(t)).join(', ')},`],
    [
      'export function detectEncoding(request) {',
      `export function detectEncoding(request) {
  return isBinaryMediaType(request.headers["content-type"]) ? "binary" : "utf8"
}

// Media types are case-insensitive; parameters (a boundary) are not part of the decision. "image/" is a prefix.
function isBinaryMediaType(contentType) {
  if (typeof contentType !== "string") return false
  const mediaType = contentType.split(";")[0].trim().toLowerCase()
  return possibleBinaryContentTypes.some((t) => (t.endsWith("/") ? mediaType.startsWith(t) : mediaType === t))
}

function replacedDetectEncoding(request) {`,
    ],
  ],
  '/serverless-offline/src/events/http/lambda-events/LambdaProxyIntegrationEvent.js': [
    // API Gateway passes a request without Content-Type on without one; a made-up application/json turned a missing
    // type (415) into a JSON parse error (400).
    ['headers["Content-Type"] = "application/json"', '// no default Content-Type, as in API Gateway'],
  ],
  '/serverless-offline/src/events/http/HttpServer.js': [
    [
      'contentTypesThatRequirePayloadParsing.includes(contentType) &&',
      'integration !== "AWS_PROXY" && contentTypesThatRequirePayloadParsing.includes(contentType) &&',
    ],
    [
      /\} else \{(\s*response\.headers\["access-control-allow-origin"\] =\s*request\.headers\.origin\s*response\.headers\["access-control-allow-credentials"\] = "true")/,
      '} else if (false) {$1',
    ],
    [
      'this.#server = new Server(serverOptions)\n',
      `this.#server = new Server(serverOptions)
    // Idle keep-alive connections outlive a client's think time (Node closes them after 5 s, racing the next request).
    this.#server.listener.keepAliveTimeout = 65_000
    this.#server.listener.headersTimeout = 66_000
    // Overload: the engine of this process (src/adapters/scheduling/front-door.ts) may answer before the body is read.
    this.#server.ext("onRequest", async (request, h) => {
      const door = globalThis[Symbol.for("image-classifier.front-door")]
      if (typeof door !== "function" || request.method !== "post") return h.continue
      const req = request.raw.req
      let answer = door("POST", request.path, request.headers)
      if (answer?.needPrefix) {
        // The door judges the body's first chunk (JSON nested past its limit shows in a few bytes); unless it
        // refuses, the chunk goes back to the stream for hapi to read as if untouched.
        const chunk = await firstChunk(req)
        answer = chunk ? door("POST", request.path, request.headers, chunk) : undefined
        if (!answer && chunk) req.unshift(chunk)
      }
      if (!answer) return h.continue
      // Read and drop the rest of the body (no conversion, no copy), so the client reads its answer and the connection
      // stays usable for its next request: closing mid-upload left clients with EPIPE and no answer at all.
      if (!req.readableEnded) {
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, 10_000)
          const done = () => {
            clearTimeout(timer)
            resolve()
          }
          req.once("end", done)
          req.once("error", done)
          req.once("close", done)
          req.resume()
        })
      }
      const response = h.response(answer.body).code(answer.statusCode)
      for (const [name, value] of Object.entries(answer.headers)) response.header(name, value)
      return response.takeover()
    })
`,
    ],
    [
      'export default class HttpServer {',
      `${FIRST_CHUNK}
export default class HttpServer {`,
    ],
    [
      'origin: endpoint.cors.origins || this.#options.corsConfig.origin,',
      // hapi echoes the request's Origin for `*`; 'ignore' makes it answer `*`, as API Gateway does.
      'origin: ((o) => (o.length === 1 && o[0] === "*" ? "ignore" : o))(endpoint.cors.origins || this.#options.corsConfig.origin),',
    ],
  ],
});

// Inlined into HttpServer.js by the patch above, which calls it: the first chunk of a request body, the stream paused.
const FIRST_CHUNK = `
function firstChunk(req) {
  return new Promise((resolve) => {
    if (req.readableEnded) return resolve(null)
    const cleanup = () => {
      req.off("data", onData)
      req.off("end", onEnd)
      req.off("error", onEnd)
    }
    const onData = (chunk) => {
      cleanup()
      req.pause()
      resolve(chunk)
    }
    const onEnd = () => {
      cleanup()
      resolve(null)
    }
    req.on("data", onData)
    req.once("end", onEnd)
    req.once("error", onEnd)
  })
}
`;

const count = (source, anchor) =>
  typeof anchor === 'string' ? source.split(anchor).length - 1 : (source.match(new RegExp(anchor.source, 'g')) ?? []).length;

export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  const target = Object.entries(patches()).find(([suffix]) => url.endsWith(suffix));
  if (!target) return result;
  const [suffix, edits] = target;
  let source = String(result.source);
  for (const [anchor, replacement] of edits) {
    // Fail loudly: a silent miss would bring back corrupted uploads, a blocking parse, credentialed CORS or costly shedding.
    if (count(source, anchor) !== 1) throw new Error(`serverless-offline's ${suffix} changed (${anchor}); update ${import.meta.url}`);
    source = source.replace(anchor, replacement);
  }
  return { ...result, source };
}
