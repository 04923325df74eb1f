/**
 * The one Node type the shared error module names (`fromSystemError` reads `code` off a system error).
 * Declared here so the browser build type-checks without Node's types, which would let Node APIs slip
 * into browser code unnoticed.
 */
declare namespace NodeJS {
  interface ErrnoException extends Error {
    code?: string;
    errno?: number;
    syscall?: string;
    path?: string;
  }
}
