/**
 * The process-global hook through which serverless-offline's HTTP server asks, before it reads a body, whether to shed
 * the request (src/local/offline/offline-hooks.mjs adds the hapi onRequest extension that calls it). serverless-offline
 * reads and converts every body on its one thread before a handler runs, so shedding in the handler still pays for
 * that; the engine lives in the same process (`useInProcess`), so the server can ask it first. Nothing registers one
 * in AWS, where API Gateway throttling sheds before Lambda, and the extension is inert without one.
 */
export const FRONT_DOOR = Symbol.for('image-classifier.front-door');

/** A complete HTTP answer: status, headers and the JSON error body every other 503 of ours has. */
export interface FrontDoorAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** Asks to be called again with the body's first chunk before deciding. */
export const NEED_PREFIX = { needPrefix: true } as const;

/**
 * Called with the method (upper case), the path without query and the request headers (lower-case names); called
 * again with `prefix`, the body's first chunk, when it answered {@link NEED_PREFIX}. Undefined: let the request in.
 */
export type FrontDoor = (
  method: string,
  path: string,
  headers: Readonly<Record<string, string | undefined>>,
  prefix?: Uint8Array,
) => FrontDoorAnswer | typeof NEED_PREFIX | undefined;

export function registerFrontDoor(door: FrontDoor | undefined): void {
  (globalThis as Record<symbol, unknown>)[FRONT_DOOR] = door;
}
