// The window's only way to the backend: the generated, typed commands. A failed command throws an
// ApiError carrying the backend's code (what the UI acts on) and its sentence (what people read).
import type { ErrorCode, UiError } from "./bindings";

export class ApiError extends Error {
  readonly code: ErrorCode;
  constructor(error: UiError) {
    super(error.message);
    this.code = error.code;
  }
}

type CommandResult<T> = { status: "ok"; data: T } | { status: "error"; error: UiError };

/** Unwraps a command's result, or throws its typed error. */
export async function call<T>(pending: Promise<CommandResult<T>>): Promise<T> {
  let result: CommandResult<T>;
  try {
    result = await pending;
  } catch (e) {
    // The command could not be reached at all (the window without its backend).
    throw new ApiError({ code: "internal", message: `ClinicPay's backend did not answer (${String(e)}). Restart ClinicPay.` });
  }
  if (result.status === "ok") return result.data;
  throw new ApiError(result.error);
}

/** The sentence to show for any error. */
export function messageOf(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  return `Something went wrong inside ClinicPay (${String(e)}). Nothing was changed; if it happens again, escalate with this message.`;
}
