import type { APIGatewayProxyEvent } from 'aws-lambda';

/** A request header by name, whatever case the client or the gateway gave it. */
export const headerOf = (event: APIGatewayProxyEvent, name: string): string | undefined => {
  const h = event.headers ?? {};
  const wanted = name.toLowerCase();
  const found = Object.keys(h).find((k) => k.toLowerCase() === wanted);
  return found === undefined ? undefined : h[found];
};
