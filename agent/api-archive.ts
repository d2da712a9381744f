// /api/archive/*: the archive's routes (agent/archive-service.ts does the work).
//   POST /api/archive/put {path}          → a job {id, op, state, bytes, totalBytes}
//   POST /api/archive/get {id, out}       → a job (unknown id, bad out: refused first); GET /api/archive/jobs/:id follows one
//   GET  /api/archive/ls                  → {objects: [{id, name, kind, size, createdMs}]}
//   POST /api/archive/verify              → this round's audit and repair tallies
//   POST /api/archive/recover             → {objects, roots, friendsRestored, friends}: after `kith init --recover`
//   GET  /api/archive/status              → per object: healthy shards, households, last audit, repairs
import type { Context, Hono } from 'hono';
import type { ArchiveService } from './archive-service.js';

type JsonBody = (c: Context) => Promise<Record<string, unknown> | Response>;
type Guard = (c: Context, notFound: string[], fn: () => Promise<unknown> | unknown) => Promise<Response>;

const usage = (c: Context, message: string) => c.json({ error: { code: 'USAGE', message } }, 400);

export function archiveRoutes(app: Hono, archive: ArchiveService, jsonBody: JsonBody, guard: Guard): void {
  const unknown = ['ARCHIVE_OBJECT_UNKNOWN'];
  app.post('/api/archive/put', async (c) => {
    const body = await jsonBody(c);
    if (body instanceof Response) return body;
    if (typeof body['path'] !== 'string' || body['path'].length === 0 || body['path'].length > 4096) return usage(c, 'POST /api/archive/put needs {"path": an absolute file or directory path}');
    return guard(c, [], () => archive.putPath(body['path'] as string));
  });
  app.post('/api/archive/get', async (c) => {
    const body = await jsonBody(c);
    if (body instanceof Response) return body;
    if (typeof body['id'] !== 'string' || typeof body['out'] !== 'string' || body['out'].length === 0) return usage(c, 'POST /api/archive/get needs {"id": object id, "out": file path}');
    return guard(c, unknown, () => archive.getToFile(body['id'] as string, body['out'] as string));
  });
  app.get('/api/archive/jobs/:id', (c) => guard(c, unknown, () => archive.job(c.req.param('id'))));
  app.get('/api/archive/ls', (c) => guard(c, [], async () => ({ objects: await archive.list() })));
  app.post('/api/archive/verify', (c) => guard(c, [], () => archive.verify()));
  app.post('/api/archive/recover', (c) => guard(c, [], () => archive.recover()));
  app.get('/api/archive/status', (c) => guard(c, [], async () => ({ objects: await archive.status() })));
}
