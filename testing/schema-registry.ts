/**
 * A TEST DOUBLE of the Confluent Schema Registry, for tests and `changeflow dev` only. Confluent's
 * registry is not on Maven Central and there is no internet here, so this small in-memory server
 * speaks the subset of its REST API that @kafkajs/confluent-schema-registry uses, with the same
 * paths, bodies and error shapes (`{ error_code, message }`). It stores everything in memory,
 * accepts Avro only and enforces no compatibility (it behaves as level NONE, whatever level is set).
 * In any real deployment set SCHEMA_REGISTRY_URL (config `kafka.schemaRegistry.url`) to a real
 * Confluent-compatible registry (Confluent, Apicurio's ccompat API, Karapace, Redpanda) instead.
 */
import avro from 'avsc';
import Fastify, { type FastifyReply } from 'fastify';

export interface TestSchemaRegistry {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Every request seen, `METHOD /path` (tests count registrations and look-ups with it). */
  readonly requests: readonly string[];
  /** Subjects and their schema ids by version (version 1 first). */
  subjects(): Map<string, number[]>;
  close(): Promise<void>;
}

export interface TestSchemaRegistryOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

// Confluent's error codes (io.confluent.kafka.schemaregistry.rest.exceptions.Errors).
const SUBJECT_NOT_FOUND = 40401;
const VERSION_NOT_FOUND = 40402;
const SCHEMA_NOT_FOUND = 40403;
const SUBJECT_COMPATIBILITY_NOT_CONFIGURED = 40408;
const INVALID_SCHEMA = 42201;
const INVALID_VERSION = 42202;
const INVALID_COMPATIBILITY_LEVEL = 42203;

const LEVELS = new Set(['NONE', 'BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE']);

class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

interface SchemaBody {
  schema: string;
  schemaType?: string;
}

function schemaBody(body: unknown): SchemaBody {
  const b = body as { schema?: unknown; schemaType?: unknown } | null;
  if (typeof b?.schema !== 'string') throw new RegistryError(422, INVALID_SCHEMA, 'Invalid schema: the body needs a "schema" string');
  if (b.schemaType !== undefined && b.schemaType !== 'AVRO')
    throw new RegistryError(422, INVALID_SCHEMA, `Invalid schema: this test registry holds AVRO schemas only, not ${String(b.schemaType)}`);
  return { schema: b.schema };
}

/** Confluent compares schemas in canonical form; the Avro parsing canonical form's fingerprint does the same job here. */
function canonicalForm(schema: string): string {
  try {
    return avro.Type.forSchema(JSON.parse(schema) as avro.Schema)
      .fingerprint('sha256')
      .toString('hex');
  } catch (error) {
    throw new RegistryError(422, INVALID_SCHEMA, `Invalid schema: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export async function startTestSchemaRegistry(options: TestSchemaRegistryOptions = {}): Promise<TestSchemaRegistry> {
  const schemas: { schema: string; canonical: string }[] = []; // id = index + 1
  const subjects = new Map<string, number[]>();
  const compatibility = new Map<string, string>();
  let globalLevel = 'NONE';
  const requests: string[] = [];

  const idOfSchema = (canonical: string): number | undefined => {
    const index = schemas.findIndex((s) => s.canonical === canonical);
    return index < 0 ? undefined : index + 1;
  };
  const versionsOf = (subject: string): number[] => {
    const versions = subjects.get(subject);
    if (!versions || versions.length === 0) throw new RegistryError(404, SUBJECT_NOT_FOUND, `Subject '${subject}' not found.`);
    return versions;
  };
  const versionBody = (subject: string, version: number, id: number) => ({ subject, version, id, schema: schemas[id - 1]?.schema ?? '' });

  const app = Fastify({ logger: false });
  app.addContentTypeParser(/^application\/(vnd\.schemaregistry(\.v1)?\+)?json/, { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, body === '' ? {} : JSON.parse(body as string));
    } catch {
      done(new RegistryError(400, 400, 'Unexpected character in the JSON body'), undefined);
    }
  });
  app.addHook('onRequest', async (request, reply) => {
    requests.push(`${request.method} ${request.url}`);
    void reply.header('content-type', CONTENT_TYPE);
  });
  app.setErrorHandler((error, _request, reply: FastifyReply) => {
    if (error instanceof RegistryError) return reply.code(error.status).send({ error_code: error.errorCode, message: error.message });
    return reply.code(500).send({ error_code: 50001, message: error instanceof Error ? error.message : String(error) });
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error_code: 404, message: 'HTTP 404 Not Found' }));

  app.get('/subjects', async () => [...subjects.keys()]);

  app.get<{ Params: { subject: string } }>('/subjects/:subject/versions', async (request) => versionsOf(request.params.subject).map((_, i) => i + 1));

  app.get<{ Params: { subject: string; version: string } }>('/subjects/:subject/versions/:version', async (request) => {
    const { subject, version } = request.params;
    const versions = versionsOf(subject);
    const number = version === 'latest' ? versions.length : Number(version);
    if (!Number.isInteger(number) || number < 1) throw new RegistryError(422, INVALID_VERSION, `The specified version '${version}' is not a valid version id.`);
    const id = versions[number - 1];
    if (id === undefined) throw new RegistryError(404, VERSION_NOT_FOUND, `Version ${version} not found.`);
    return versionBody(subject, number, id);
  });

  // Register (idempotent: the same schema under a subject keeps its version and id).
  app.post<{ Params: { subject: string } }>('/subjects/:subject/versions', async (request) => {
    const { schema } = schemaBody(request.body);
    const canonical = canonicalForm(schema);
    let id = idOfSchema(canonical);
    if (id === undefined) {
      schemas.push({ schema, canonical });
      id = schemas.length;
    }
    const versions = subjects.get(request.params.subject) ?? [];
    if (!versions.includes(id)) versions.push(id);
    subjects.set(request.params.subject, versions);
    return { id };
  });

  // Look up: is this schema registered under the subject?
  app.post<{ Params: { subject: string } }>('/subjects/:subject', async (request) => {
    const { subject } = request.params;
    const { schema } = schemaBody(request.body);
    const versions = versionsOf(subject);
    const id = idOfSchema(canonicalForm(schema));
    const index = id === undefined ? -1 : versions.indexOf(id);
    if (id === undefined || index < 0) throw new RegistryError(404, SCHEMA_NOT_FOUND, 'Schema not found');
    return versionBody(subject, index + 1, id);
  });

  app.get<{ Params: { id: string } }>('/schemas/ids/:id', async (request) => {
    const entry = schemas[Number(request.params.id) - 1];
    if (!entry) throw new RegistryError(404, SCHEMA_NOT_FOUND, `Schema ${request.params.id} not found`);
    return { schema: entry.schema };
  });

  app.get('/config', async () => ({ compatibilityLevel: globalLevel }));
  app.put('/config', async (request) => {
    globalLevel = compatibilityLevel(request.body);
    return { compatibility: globalLevel };
  });
  app.get<{ Params: { subject: string } }>('/config/:subject', async (request) => {
    const level = compatibility.get(request.params.subject);
    if (level === undefined)
      throw new RegistryError(
        404,
        SUBJECT_COMPATIBILITY_NOT_CONFIGURED,
        `Subject '${request.params.subject}' does not have subject-level compatibility configured`,
      );
    return { compatibilityLevel: level };
  });
  app.put<{ Params: { subject: string } }>('/config/:subject', async (request) => {
    const level = compatibilityLevel(request.body);
    compatibility.set(request.params.subject, level);
    return { compatibility: level };
  });

  const address = await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  return {
    url: address,
    requests,
    subjects: () => new Map([...subjects].map(([subject, ids]) => [subject, [...ids]])),
    close: () => app.close(),
  };
}

function compatibilityLevel(body: unknown): string {
  const level = (body as { compatibility?: unknown } | null)?.compatibility;
  if (typeof level !== 'string' || !LEVELS.has(level.toUpperCase()))
    throw new RegistryError(422, INVALID_COMPATIBILITY_LEVEL, `Invalid compatibility level: ${String(level)}`);
  return level.toUpperCase();
}
