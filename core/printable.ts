// Text from other nodes (labels, names, endpoints, reasons) shown on a terminal or written to the
// log: control characters are escaped so that a peer cannot move the cursor, recolour the screen,
// forge a line of output or a log line, or reorder text with bidi controls (issue 18, weak spot
// 13). JSON output needs nothing: JSON.stringify escapes control characters itself.

/** C0 and C1 controls, DEL, line/paragraph separators and the bidi embedding/override/isolate marks. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const SHORT: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

/** The text with every unsafe character written as an escape (`\n`, `\e`, `\u202e`). */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
