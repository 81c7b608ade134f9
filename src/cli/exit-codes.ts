// The command line's exit codes (README "Command line"), in one place.

/** Nothing denied, or the command did what it was asked. */
export const EXIT_OK = 0;
/** `check`: at least one object would be denied. */
export const EXIT_DENIED = 1;
/** Bad input, bad flags or a bad policy: the message says which file, document, flag or key. */
export const EXIT_USAGE = 2;
