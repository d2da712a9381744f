// docs/api/openapi.json, generated from the routes and shapes of agent/api-shapes.ts (TypeBox
// shapes are JSON Schema already: this only arranges them as OpenAPI 3.1). Regenerate with
// `npm run openapi`; test/unit/api-openapi.test.ts fails when the checked-in file is stale.
import fs from 'node:fs';
import { ApiError, Event, ROUTES, type RouteSpec } from './api-shapes.js';

/** A TypeBox schema as plain JSON Schema (its symbols dropped). */
const plain = (s: unknown): unknown => JSON.parse(JSON.stringify(s));

const errorResponse = (what: string) => ({ description: what, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });

function operation(name: string, spec: RouteSpec) {
  const params: unknown[] = [];
  const props = (s: unknown) => Object.entries((s as { properties?: Record<string, unknown> }).properties ?? {});
  const required = (s: unknown) => new Set((s as { required?: string[] }).required ?? []);
  if (spec.params) for (const [k, v] of props(spec.params)) params.push({ name: k, in: 'path', required: true, schema: plain(v) });
  if (spec.query) for (const [k, v] of props(spec.query)) params.push({ name: k, in: 'query', required: required(spec.query).has(k), schema: plain(v) });
  return {
    operationId: name,
    summary: spec.summary,
    ...(spec.companion ? { 'x-kith-companion': true } : {}),
    ...(params.length ? { parameters: params } : {}),
    ...(spec.body ? { requestBody: { required: true, content: { 'application/json': { schema: plain(spec.body) } } } } : {}),
    responses: {
      200: { description: 'the answer', content: { 'application/json': { schema: plain(spec.response) } } },
      400: errorResponse('bad input (API_BAD_REQUEST) or a refusal of the operation (its own code)'),
      401: errorResponse('no valid token or session (API_UNAUTHORIZED, API_SESSION_INVALID)'),
      403: errorResponse('refused: API_HOST_REFUSED, API_ORIGIN_REFUSED, API_CSRF_REFUSED, API_SCOPE_REFUSED'),
      404: errorResponse('no such route or thing'),
    },
  };
}

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [name, spec] of Object.entries(ROUTES) as [string, RouteSpec][]) {
    const path = spec.path.replace(/:([A-Za-z]+)/g, '{$1}');
    (paths[path] ??= {})[spec.method.toLowerCase()] = operation(name, spec);
  }
  return {
    openapi: '3.1.0',
    info: { title: 'kith local API', version: '1', description: 'The agent\'s local API (agent/README.md "Local API"). Generated from agent/api-shapes.ts; do not edit by hand. Events also come over a WebSocket at /api/v1/events?since=N, one Event per text message.' },
    servers: [{ url: 'http://127.0.0.1:{port}', variables: { port: { default: '5485' } } }],
    security: [{ bearer: [] }, { session: [] }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'the token in <data-dir>/api.token' },
        session: { type: 'apiKey', in: 'cookie', name: 'kith_session', description: 'from a one-time login link; state changes also need the X-Kith-CSRF header' },
      },
      schemas: { Error: plain(ApiError), Event: plain(Event) },
    },
    paths,
  };
}

export const openApiText = (): string => JSON.stringify(openApiDocument(), null, 2) + '\n';

export const OPENAPI_PATH = 'docs/api/openapi.json';

if (process.argv.includes('--write')) fs.writeFileSync(OPENAPI_PATH, openApiText());
