// docs/api/openapi.json must be what agent/api-shapes.ts generates: a route or shape changed
// without `npm run openapi` fails here (and so in CI).
import t from 'tap';
import fs from 'node:fs';
import { openApiText, OPENAPI_PATH } from '../../agent/openapi.js';
import { ROUTES } from '../../agent/api-shapes.js';

t.test('the checked-in OpenAPI document is the generated one', async (t) => {
  const onDisk = fs.readFileSync(new URL(`../../${OPENAPI_PATH}`, import.meta.url), 'utf8');
  t.equal(onDisk, openApiText(), `${OPENAPI_PATH} is stale: run npm run openapi`);
});

t.test('every declared route is in the document, under its method', async (t) => {
  const doc = JSON.parse(openApiText()) as { paths: Record<string, Record<string, { operationId: string }>> };
  for (const [name, r] of Object.entries(ROUTES)) {
    t.equal(doc.paths[r.path.replace(/:([A-Za-z]+)/g, '{$1}')]?.[r.method.toLowerCase()]?.operationId, name, name);
  }
});
