// Module-load hook: see register-binary-media-types.mjs for why.
let types = [];
const TARGET = '/serverless-offline/src/utils/index.js';
const ANCHOR = '"multipart/form-data",';

export async function initialize(data) {
  types = data.types;
}

export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (!url.endsWith(TARGET)) return result;
  const source = String(result.source);
  if (!source.includes(ANCHOR)) {
    // Fail loudly: a silent miss would bring back corrupted uploads.
    throw new Error(`serverless-offline's binary content-type list moved; update ${import.meta.url}`);
  }
  return { ...result, source: source.replace(ANCHOR, `${ANCHOR} ${types.map((t) => JSON.stringify(t)).join(', ')},`) };
}
