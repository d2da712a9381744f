// The web UI's copy of route methods and paths (agent/web/routes.ts) must be the declared one
// (agent/api-shapes.ts): a route renamed or moved without the page following fails here.
import t from 'tap';
import { ROUTES, type RouteName } from '../../agent/api-shapes.js';
import { WEB_ROUTES } from '../../agent/web/routes.js';

t.test('every route the page calls is declared, with the same method and path', async (t) => {
  for (const [name, [method, path]] of Object.entries(WEB_ROUTES)) {
    const spec = ROUTES[name as RouteName];
    t.ok(spec, `${name} is declared`);
    t.same([method, path], [spec?.method, spec?.path], name);
  }
});

t.test('the page calls no unversioned route', async (t) => {
  for (const [name, [, path]] of Object.entries(WEB_ROUTES)) t.match(path, /^\/api\/v1\//, name);
});
