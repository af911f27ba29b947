// metav1.Status errors, with the reasons, codes and message shapes of k8s.io/apimachinery/pkg/api/errors.

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: { continue?: string; resourceVersion?: string };
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  code: number;
  details?: StatusDetails;
}

export class StatusError extends Error {
  constructor(
    public code: number,
    public reason: string,
    message: string,
    public details?: StatusDetails,
    public listMeta?: { continue?: string },
  ) {
    super(message);
    this.name = 'StatusError';
  }

  toStatus(): Status {
    const s: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, code: this.code };
    if (this.details) s.details = this.details;
    if (this.listMeta?.continue) s.metadata.continue = this.listMeta.continue;
    return s;
  }
}

/** A group-qualified resource, as error messages name it ("repositories.config.pkg.pkgserver.dev"). */
export interface GroupResource {
  group: string;
  resource: string;
}

const qualified = (gr: GroupResource) => (gr.group ? `${gr.resource}.${gr.group}` : gr.resource);

export const notFound = (gr: GroupResource, name: string) =>
  new StatusError(404, 'NotFound', `${qualified(gr)} "${name}" not found`, { name, group: gr.group, kind: gr.resource });

export const alreadyExists = (gr: GroupResource, name: string) =>
  new StatusError(409, 'AlreadyExists', `${qualified(gr)} "${name}" already exists`, { name, group: gr.group, kind: gr.resource });

export const conflict = (gr: GroupResource, name: string, why: string) =>
  new StatusError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${why}`, { name, group: gr.group, kind: gr.resource });

export const OBJECT_MODIFIED = 'the object has been modified; please apply your changes to the latest version and try again';

export const badRequest = (message: string, causes?: StatusCause[]) =>
  new StatusError(400, 'BadRequest', message, causes ? { causes } : undefined);

export const forbidden = (gr: GroupResource, name: string, why: string) =>
  new StatusError(403, 'Forbidden', `${qualified(gr)}${name ? ` "${name}"` : ''} is forbidden: ${why}`, { ...(name ? { name } : {}), group: gr.group, kind: gr.resource });

/** 403 for a request that is not about a resource (kube: NewForbidden with an empty GroupResource). */
export const forbiddenPath = (why: string) => new StatusError(403, 'Forbidden', `forbidden: ${why}`, {});

/** 429 from the in-flight limits, with the Retry-After the response header also carries. */
export const tooManyRequests = (retryAfterSeconds = 1) =>
  new StatusError(429, 'TooManyRequests', 'Too many requests, please try again later.', { retryAfterSeconds });

export const unauthorized = (message = 'Unauthorized') => new StatusError(401, 'Unauthorized', message);

export const methodNotSupported = (gr: GroupResource, action: string) =>
  new StatusError(405, 'MethodNotAllowed', `${action} is not supported on resources of kind "${qualified(gr)}"`, { group: gr.group, kind: gr.resource });

export const unsupportedMediaType = (contentType: string, accepted: string[]) =>
  new StatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`, {
    causes: [{ reason: 'UnexpectedServerResponse', message: `unsupported content type "${contentType}"` }],
  });

export const notAcceptable = (accepted: string[]) =>
  new StatusError(406, 'NotAcceptable', `only the following media types are accepted: ${accepted.join(', ')}`);

export const requestEntityTooLarge = (limit: number, what?: string) =>
  new StatusError(413, 'RequestEntityTooLarge', what ? `Request entity too large: ${what} is larger than the limit of ${limit} bytes` : `Request entity too large: limit is ${limit}`);

export const expired = (message: string, continueToken?: string) =>
  new StatusError(410, 'Expired', message, undefined, continueToken ? { continue: continueToken } : undefined);

export const gone = (message: string) => new StatusError(410, 'Expired', message);

export const timeout = (message: string, retryAfterSeconds = 1, causes?: StatusCause[]) =>
  new StatusError(504, 'Timeout', `Timeout: ${message}`, { ...(causes ? { causes } : {}), retryAfterSeconds });

/** A resourceVersion newer than the server has seen (storage.NewTooLargeResourceVersionError); client-go keys on the cause. */
export const tooLargeResourceVersion = (requested: number, current: number) =>
  timeout(`Too large resource version: ${requested}, current: ${current}`, 1, [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }]);

export const internalError = (message = 'an internal error occurred; see the server log') =>
  new StatusError(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ reason: 'UnexpectedServerResponse', message }] });

export const unprocessable = (message: string) => new StatusError(422, 'Invalid', message);

// field errors live with the API types (the engine raises them too); re-exported here
export { fieldErr, type FieldError, type FieldErrorType } from '../api/fielderrors.ts';
import type { FieldError } from '../api/fielderrors.ts';

/**
 * How many field errors a 422 lists, in its causes and its message. An object within the size
 * bounds can still have tens of thousands of bad fields (e.g. 100,000 invalid labels): listing
 * them all would make an answer of many megabytes. The first ones are listed, and the message
 * says how many more there were.
 */
export const MAX_INVALID_CAUSES = 100;

/** 422 Invalid listing the field errors (at most MAX_INVALID_CAUSES), as apierrors.NewInvalid renders it. */
export function invalid(kind: string, group: string, name: string, errs: FieldError[]): StatusError {
  const shown = errs.length > MAX_INVALID_CAUSES ? errs.slice(0, MAX_INVALID_CAUSES) : errs;
  const parts = shown.map((e) => `${e.field}: ${e.message}`);
  if (shown.length < errs.length) parts.push(`and ${errs.length - shown.length} more errors`);
  const msg = `${kind}${group ? `.${group}` : ''} "${name}" is invalid: ${parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`}`;
  return new StatusError(422, 'Invalid', msg, {
    ...(name ? { name } : {}), // omitempty, as metav1.StatusDetails
    group,
    kind,
    causes: shown.map((e) => ({ reason: e.type, message: e.message, field: e.field })),
  });
}
