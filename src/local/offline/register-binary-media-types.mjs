// Loaded with `node --import` into the serverless-offline process by `npm start`.
//
// serverless-offline hands a body to the handler base64-encoded only for application/octet-stream and
// multipart/form-data; any other body is decoded as UTF-8 — a raw image/jpeg upload reaches the handler
// corrupted, whatever serverless.yml's binaryMediaTypes says. API Gateway honours binaryMediaTypes. This hook
// makes the local stack do the same by extending that list at module-load time, without editing node_modules.
import { register } from 'node:module';

const types = (process.env.OFFLINE_BINARY_MEDIA_TYPES || 'image/').split(',').map((s) => s.trim()).filter(Boolean);
register('./binary-media-types-hooks.mjs', import.meta.url, { data: { types } });
