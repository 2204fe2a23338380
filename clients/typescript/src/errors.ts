/**
 * Everything the client throws derives from TwinkleError:
 *
 *   TwinkleError
 *   ├── APIConnectionError        no answer came (network, refused connection)
 *   │   └── APITimeoutError       no answer within the timeout
 *   ├── APIStatusError            the server answered an error status (code, message, requestId)
 *   │   ├── BadRequestError (400), AuthenticationError (401), NotFoundError (404),
 *   │   ├── ConflictError (409), PayloadTooLargeError (413), UnprocessableEntityError (422),
 *   │   ├── RateLimitError (429), InternalServerError (500), ServiceUnavailableError (503)
 *   └── TaskFailedError           a 202 task finished with an error (carries the same fields)
 */

export class TwinkleError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class APIConnectionError extends TwinkleError {}

export class APITimeoutError extends APIConnectionError {}

/** The server's error body: `{"error": {"code", "message", "details", "request_id"}}`. */
export interface ErrorFields {
  code: string;
  message: string;
  details: Record<string, unknown>;
  request_id: string;
}

export class APIStatusError extends TwinkleError {
  readonly status: number;
  readonly code: string;
  readonly requestId: string;
  readonly details: Record<string, unknown>;

  constructor(status: number, error: ErrorFields) {
    super(`${status} ${error.code}: ${error.message} (request ${error.request_id})`);
    this.status = status;
    this.code = error.code;
    this.requestId = error.request_id;
    this.details = error.details;
  }
}

export class BadRequestError extends APIStatusError {}
export class AuthenticationError extends APIStatusError {}
export class NotFoundError extends APIStatusError {}
export class ConflictError extends APIStatusError {}
export class PayloadTooLargeError extends APIStatusError {}
export class UnprocessableEntityError extends APIStatusError {}
export class RateLimitError extends APIStatusError {}
export class InternalServerError extends APIStatusError {}
export class ServiceUnavailableError extends APIStatusError {}

/** A long operation answered 202; its task then failed with this error. */
export class TaskFailedError extends APIStatusError {}

const BY_STATUS: Record<number, typeof APIStatusError> = {
  400: BadRequestError,
  401: AuthenticationError,
  404: NotFoundError,
  409: ConflictError,
  413: PayloadTooLargeError,
  422: UnprocessableEntityError,
  429: RateLimitError,
  500: InternalServerError,
  503: ServiceUnavailableError,
};

/** The most specific error class for a status and a (possibly malformed) error body. */
export function makeStatusError(status: number, body: unknown, requestId: string | null): APIStatusError {
  const error = (body as { error?: Partial<ErrorFields> } | null)?.error;
  const fields: ErrorFields = {
    code: typeof error?.code === "string" ? error.code : `http_${status}`,
    message: typeof error?.message === "string" ? error.message : `the server answered ${status}`,
    details: error?.details ?? {},
    request_id: typeof error?.request_id === "string" ? error.request_id : (requestId ?? ""),
  };
  const cls = BY_STATUS[status] ?? APIStatusError;
  return new cls(status, fields);
}
