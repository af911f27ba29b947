// Field errors (k8s.io/apimachinery/pkg/util/validation/field): what is wrong with which field,
// worded as kube words it. The API validation and the package engine both raise them; the API
// server renders them as a 422 Invalid Status.

export type FieldErrorType =
  | 'FieldValueRequired'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueForbidden'
  | 'FieldValueDuplicate'
  | 'FieldValueTooLong'
  | 'FieldValueTooMany'
  | 'FieldValueTypeInvalid';

export interface FieldError {
  type: FieldErrorType;
  field: string;
  /** the human text of the cause, as field.Error.ErrorBody() renders it */
  message: string;
}

/** A value as field errors print it; bounded, whatever the value (a huge or deep one is cut). */
const render = (v: unknown): string => {
  let out: string;
  if (typeof v === 'string') out = JSON.stringify(v.length > 1024 ? v.slice(0, 1024) : v);
  else if (v === undefined) out = 'null';
  else if (typeof v === 'object' && v !== null) {
    try {
      out = JSON.stringify(v);
    } catch {
      out = Array.isArray(v) ? '[...]' : '{...}'; // nested beyond what JSON.stringify can walk
    }
  } else out = String(v);
  return out.length > 1024 ? `${out.slice(0, 1024)}...` : out;
};

export const fieldErr = {
  required: (field: string, detail = ''): FieldError => ({ type: 'FieldValueRequired', field, message: detail ? `Required value: ${detail}` : 'Required value' }),
  invalid: (field: string, value: unknown, detail: string): FieldError => ({ type: 'FieldValueInvalid', field, message: `Invalid value: ${render(value)}: ${detail}` }),
  notSupported: (field: string, value: unknown, supported: readonly string[]): FieldError => ({
    type: 'FieldValueNotSupported',
    field,
    message: `Unsupported value: ${render(value)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`,
  }),
  forbidden: (field: string, detail: string): FieldError => ({ type: 'FieldValueForbidden', field, message: `Forbidden: ${detail}` }),
  duplicate: (field: string, value: unknown, detail = ''): FieldError => ({ type: 'FieldValueDuplicate', field, message: `Duplicate value: ${render(value)}${detail ? `: ${detail}` : ''}` }),
  tooLong: (field: string, max: number): FieldError => ({ type: 'FieldValueTooLong', field, message: `Too long: may not be more than ${max} bytes` }),
  typeInvalid: (field: string, value: unknown, detail: string): FieldError => ({ type: 'FieldValueTypeInvalid', field, message: `Invalid value: ${render(value)}: ${detail}` }),
  immutable: (field: string, value: unknown): FieldError => ({ type: 'FieldValueInvalid', field, message: `Invalid value: ${render(value)}: field is immutable` }),
};


// ---- names (k8s.io/apimachinery/pkg/util/validation) ----

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isDNS1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

export function dns1123LabelError(field: string, value: string): FieldError | undefined {
  if (isDNS1123Label(value)) return undefined;
  return fieldErr.invalid(
    field,
    value,
    value.length > 63
      ? 'must be no more than 63 characters'
      : "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
  );
}

export function dns1123SubdomainError(field: string, value: string): FieldError | undefined {
  if (value.length <= 253 && DNS1123_SUBDOMAIN.test(value)) return undefined;
  return fieldErr.invalid(
    field,
    value,
    value.length > 253
      ? 'must be no more than 253 characters'
      : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
  );
}

