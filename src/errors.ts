/**
 * An error caused by what the user asked for (a bad flag, a malformed spec, a taken port).
 * Its message is shown as is: it must say what was wrong and what is allowed.
 * The API answers these with 400; anything else is a bug and answers 500.
 */
export class UserError extends Error {
  override name = 'UserError';
}

/** The message of any thrown value, for logs and error answers. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
