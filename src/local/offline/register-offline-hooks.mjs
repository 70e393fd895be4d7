// Loaded with `node --import` into the serverless-offline process by `npm start`. It makes serverless-offline 14 behave
// as API Gateway does in front of a Lambda proxy integration, by patching four of its modules as they load (no edit
// to node_modules; every patch fails loudly if its anchor text moves, see offline-hooks.mjs):
//
// - Binary bodies. serverless-offline hands a body to the handler base64-encoded only for application/octet-stream and
//   multipart/form-data, matched case-sensitively; any other body is decoded as UTF-8, so a raw image/jpeg (or an
//   `IMAGE/JPEG`, or a `Multipart/Form-Data`) upload reached the handler corrupted. API Gateway honours
//   binaryMediaTypes, and media types are case-insensitive (RFC 9110 §8.3.1). The hook adds OFFLINE_BINARY_MEDIA_TYPES
//   (default `image/`, a prefix) to that list and matches the media type lower-cased, parameters ignored.
// - JSON bodies. serverless-offline JSON.parses every application/json body on its one HTTP thread before it calls
//   the function, although a proxy integration only ever gets the body as a string (API Gateway passes it through):
//   5 MB of `[` blocked every other request for about half a second per request. The hook skips that parse for
//   AWS_PROXY routes; the function's own parser (http-input.ts) checks the nesting depth before it parses.
// - Content type. serverless-offline gave a request without Content-Type the header `application/json`; API Gateway
//   passes it on without one, so the function answers 415 (unsupported type), not a JSON parse error.
// - CORS. For REST routes serverless-offline answered every request carrying an Origin with that origin echoed and
//   `Access-Control-Allow-Credentials: true`, whatever serverless.yml's `cors` said. API Gateway answers preflights
//   from the route's cors settings and adds nothing to a proxy integration's responses. The hook removes the blanket
//   echo and lets hapi's route cors (built from serverless.yml) answer, with a `*` origin answered as `*`.
// - Overload and keep-alive. serverless-offline reads and converts every body on its one thread before the function
//   runs, so a request shed by the function has already cost most of what serving it costs. The hook adds a hapi
//   onRequest extension that asks the engine of this process (src/adapters/scheduling/front-door.ts; inert when none
//   registered) whether to shed a POST /predict or /predict/batch, and answers its 503 before the body is read, as
//   API Gateway throttling sheds before Lambda. It also keeps idle connections for 65 s: Node's 5 s default raced
//   clients that think 5-10 s between requests, and a busy event loop turned the race into reset connections.
import { register } from 'node:module';

const binaryTypes = (process.env.OFFLINE_BINARY_MEDIA_TYPES || 'image/')
  .split(',')
  .map((s) => s.trim().toLowerCase())
  .filter(Boolean);
register('./offline-hooks.mjs', import.meta.url, { data: { binaryTypes } });
