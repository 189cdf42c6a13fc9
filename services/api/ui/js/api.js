// GraphQL over HTTP: POST graphql with the bearer token; errors become ApiError with the API's
// code and the field it names.

import { sentence } from './format.js';

export class ApiError extends Error {
  constructor(message, { code = 'INTERNAL', field = null, status = 0, errors = [] } = {}) {
    super(message);
    this.code = code;
    this.field = field;
    this.status = status;
    this.errors = errors;
  }

  /** The message as a sentence, without the `invalid `field`:` prefix when shown by its field. */
  fieldMessage() {
    const m = /^invalid `[^`]+`: (.*)$/s.exec(this.message);
    return sentence(m ? m[1] : this.message);
  }
}

const listeners = new Set();
/** Called with the error whenever the server says the token is not (or no longer) valid. */
export function onUnauthenticated(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function endpointUrl(path) {
  return new URL(path, document.baseURI).href;
}

export function createApi(getToken) {
  async function request(query, variables = {}, { token = getToken(), signal } = {}) {
    let resp;
    try {
      resp = await fetch(endpointUrl('graphql'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
        signal,
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError('Cannot reach the Hookmetry server. Check that it is running and that this page’s address is right.', {
        code: 'NETWORK',
      });
    }
    let body = null;
    try {
      body = await resp.json();
    } catch {
      throw new ApiError(`The server answered ${resp.status} ${resp.statusText} without a GraphQL response.`, {
        code: 'BAD_RESPONSE',
        status: resp.status,
      });
    }
    const errors = body?.errors || [];
    if (errors.length) {
      const first = errors[0];
      const err = new ApiError(first.message, {
        code: first.extensions?.code || 'INTERNAL',
        field: first.extensions?.field || null,
        status: resp.status,
        errors,
      });
      if (err.code === 'UNAUTHENTICATED') listeners.forEach((fn) => fn(err));
      throw err;
    }
    if (!resp.ok) {
      throw new ApiError(`The server answered ${resp.status} ${resp.statusText}.`, { status: resp.status });
    }
    return body.data;
  }
  return { request };
}
