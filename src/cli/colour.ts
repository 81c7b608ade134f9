// Minimal ANSI styling. Colour is for people at a terminal: never in pipes, CI logs or files,
// and never when NO_COLOR is set (https://no-color.org).
export interface Palette {
  red(text: string): string;
  yellow(text: string): string;
  green(text: string): string;
  cyan(text: string): string;
  bold(text: string): string;
  dim(text: string): string;
}

function style(open: number, close: number): (text: string) => string {
  return (text) => `\u001b[${open}m${text}\u001b[${close}m`;
}

const COLOURED: Palette = {
  red: style(31, 39),
  yellow: style(33, 39),
  green: style(32, 39),
  cyan: style(36, 39),
  bold: style(1, 22),
  dim: style(2, 22),
};

const identity = (text: string): string => text;
const PLAIN: Palette = { red: identity, yellow: identity, green: identity, cyan: identity, bold: identity, dim: identity };

export function palette(enabled: boolean): Palette {
  return enabled ? COLOURED : PLAIN;
}

/** Whether to colour a stream: a TTY, NO_COLOR unset or empty, and not turned off by a flag. */
export function useColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv, flag: boolean): boolean {
  return flag && stream.isTTY === true && (env['NO_COLOR'] ?? '') === '';
}
