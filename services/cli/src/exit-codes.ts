/** CLI exit codes: scripts and runbooks rely on them. */
export const EXIT = {
  ok: 0,
  /** The operation ran and failed, or the input it checked is invalid. */
  failed: 1,
  /** Bad arguments or usage. */
  usage: 2,
  /** The coordinator API (or another dependency) could not be reached. */
  unavailable: 3,
} as const;
