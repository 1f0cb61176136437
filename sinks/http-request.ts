import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { literalHostRefusal, NonPublicAddressError, publicOnlyLookup } from './address-guard.js';

export interface OutgoingRequest {
  method: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Refuse loopback, private and link-local targets, after DNS, on every connection. */
  publicOnly: boolean;
}

export interface EndpointAnswer {
  status: number;
  /** The start of the answer's body, for error messages. */
  text: string;
}

/** Bytes of an answer kept for messages; the rest is read and dropped. */
const ANSWER_BYTES = 4096;

/**
 * One request, no redirects followed: a 3xx is the endpoint's answer like any other (a redirect
 * could lead a guarded sink anywhere). Network errors and timeouts reject; a refused address
 * rejects with NonPublicAddressError.
 */
export function sendRequest(url: URL, outgoing: OutgoingRequest): Promise<EndpointAnswer> {
  if (outgoing.publicOnly) {
    const refusal = literalHostRefusal(url.hostname);
    if (refusal) return Promise.reject(new NonPublicAddressError(refusal));
  }
  const options: RequestOptions = {
    method: outgoing.method,
    headers: { ...outgoing.headers, 'content-length': String(Buffer.byteLength(outgoing.body)) },
    signal: AbortSignal.timeout(outgoing.timeoutMs),
    ...(outgoing.publicOnly ? { lookup: publicOnlyLookup } : {}),
  };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, options, (res) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      res.on('data', (chunk: Buffer) => {
        if (kept < ANSWER_BYTES) chunks.push(chunk);
        kept += chunk.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8').slice(0, ANSWER_BYTES) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(outgoing.body);
  });
}
