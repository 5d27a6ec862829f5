// Reads a container's console log (conmon's k8s-file format) back as the plain text the container wrote.

import { readFile } from 'node:fs/promises';

export type ConsoleStream = 'stdout' | 'stderr';

export interface ConsoleLogOptions {
  /** Keep only one stream; both, interleaved as written, when absent. */
  readonly stream?: ConsoleStream;
}

/**
 * Each k8s-file line is `<RFC 3339 time> <stream> <F|P> <text>`: F ends a line of the container's
 * output, P is a piece of a longer line (no newline of its own). Lines of another shape are skipped.
 * The text may hold a '\r' (a terminal's line ends): hence the `s` flag.
 */
export function parseK8sLog(text: string, options: ConsoleLogOptions = {}): string {
  let out = '';
  for (const line of text.split('\n')) {
    const match = /^\S+ (stdout|stderr) ([FP]) ?(.*)$/s.exec(line);
    if (match === null) continue;
    const [, stream, tag, content] = match;
    if (options.stream !== undefined && stream !== options.stream) continue;
    out += tag === 'F' ? `${content ?? ''}\n` : (content ?? '');
  }
  return out;
}

/** The console text of a container; '' when the log does not exist (yet). */
export async function readConsoleLog(path: string, options: ConsoleLogOptions = {}): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
  return parseK8sLog(text, options);
}

const NEWLINE = 0x0a;
const SPACE = 0x20;

/**
 * The container's raw bytes in complete k8s-file lines (each ending in '\n'), both streams as
 * written; bytes, not text, because conmon may split a multi-byte character across two pieces.
 */
export function decodeK8sLines(lines: Buffer): Buffer {
  const out: Buffer[] = [];
  let start = 0;
  while (start < lines.length) {
    let end = lines.indexOf(NEWLINE, start);
    if (end < 0) end = lines.length;
    const first = lines.indexOf(SPACE, start);
    const second = first < 0 || first >= end ? -1 : lines.indexOf(SPACE, first + 1);
    if (second > 0 && second + 1 < end) {
      const tag = lines[second + 1];
      // "<time> <stream> F text" or "<time> <stream> P text"; an empty F line has no space after the tag.
      const contentStart = Math.min(second + 3, end);
      if (tag === 0x46 /* F */) {
        out.push(lines.subarray(contentStart, end), Buffer.of(NEWLINE));
      } else if (tag === 0x50 /* P */) {
        out.push(lines.subarray(contentStart, end));
      }
    }
    start = end + 1;
  }
  return Buffer.concat(out);
}
