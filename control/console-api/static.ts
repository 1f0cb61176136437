import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** The console's files, built by `npm run build` into dist/console. Only these kinds of plain names are ever served (no paths). */
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};
const FILE_NAME = /^[a-z][a-z0-9-]{0,40}\.(html|js|css)$/;

/** Nothing but this server's own files may load or run: event text a tenant wrote can never become markup or script. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** dist/console beside the compiled server; from the TypeScript sources (tests), the build's output. */
export function consoleDir(): string {
  const compiled = import.meta.url.endsWith('.js');
  return fileURLToPath(new URL(compiled ? '../../console/' : '../../dist/console/', import.meta.url));
}

/** Serves the console at /console/ (index.html, its scripts and style.css); the pages call /api/ with the token the user typed. */
export function registerConsolePages(http: FastifyInstance, dir = consoleDir()): void {
  const serve = async (name: string, reply: FastifyReply): Promise<unknown> => {
    const type = FILE_NAME.test(name) ? TYPES[name.slice(name.lastIndexOf('.') + 1)] : undefined;
    if (!type) return reply.code(404).send({ error: `no console file "${name}"` });
    let body: Buffer;
    try {
      body = await readFile(`${dir}/${name}`);
    } catch {
      if (existsSync(`${dir}/index.html`)) return reply.code(404).send({ error: `no console file "${name}"` });
      return reply.code(503).send({ error: 'the console is not built in this installation: run npm run build' });
    }
    return reply
      .header('content-type', type)
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .send(body);
  };
  http.get('/console', async (_request, reply) => reply.redirect('/console/'));
  http.get('/console/', async (_request, reply) => serve('index.html', reply));
  http.get<{ Params: { file: string } }>('/console/:file', async (request, reply) => serve(request.params.file, reply));
}
