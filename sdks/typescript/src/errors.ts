import type { ErrorBody, ValidationIssue } from "./types.js";

/** The node answered with an error status; `code` is the machine-readable reason. */
export class StigmemError extends Error {
  override readonly name = "StigmemError";
  readonly status: number;
  /** `error.code` of the body (`fact_not_found`, `source_not_owned`…), or `http_<status>`. */
  readonly code: string;
  /** The offending field or parameter, when the node names one. */
  readonly field: string | null;
  /** On a 422: each field that breaks a rule. */
  readonly issues: ValidationIssue[];
  /** Seconds to wait before sending again (503 storage_full, 429), when the node says. */
  readonly retryAfter: number | null;

  constructor(status: number, code: string, message: string, options: {
    field?: string | null | undefined;
    issues?: ValidationIssue[] | null | undefined;
    retryAfter?: number | null | undefined;
  } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = options.field ?? null;
    this.issues = options.issues ?? [];
    this.retryAfter = options.retryAfter ?? null;
  }
}

/** The node could not be reached, or its answer was not the JSON it promises. */
export class StigmemTransportError extends Error {
  override readonly name = "StigmemTransportError";
}

function isErrorBody(body: unknown): body is ErrorBody {
  if (typeof body !== "object" || body === null) return false;
  const error = (body as { error?: unknown }).error;
  return typeof error === "object" && error !== null
    && typeof (error as { code?: unknown }).code === "string"
    && typeof (error as { message?: unknown }).message === "string";
}

/** A one-line description of whatever a server put in `detail` (never `[object Object]`). */
function describe(detail: unknown): string {
  if (typeof detail === "string") return detail;
  try {
    return JSON.stringify(detail);
  } catch {
    return String(detail);
  }
}

/** Read an error answer: ours (`{detail, error}`), upstream's (`{detail}`), or anything else. */
export async function errorFrom(response: Response): Promise<StigmemError> {
  const text = await response.text();
  const header = response.headers.get("retry-after");
  const seconds = header === null ? NaN : Number(header);
  const retryAfter = Number.isFinite(seconds) ? seconds : null;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (isErrorBody(body)) {
    const { code, message, field, issues } = body.error;
    const detail = typeof body.detail === "string" ? body.detail : message;
    return new StigmemError(response.status, code, detail, { field, issues, retryAfter });
  }
  const fallback = `http_${response.status}`;
  if (typeof body === "object" && body !== null && "detail" in body) {
    return new StigmemError(response.status, fallback,
                            describe((body as { detail: unknown }).detail), { retryAfter });
  }
  const line = text.trim().split("\n")[0]?.slice(0, 200) || response.statusText || fallback;
  return new StigmemError(response.status, fallback, line, { retryAfter });
}
