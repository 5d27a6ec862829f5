// Formats JSON exactly as jsoncpp's StreamWriterBuilder (indentation " ") does, so GetInfo output matches Dobby byte for byte.

/** A JSON value; bigint carries 64-bit cgroup counters that a double would round. */
export type JsonValue = null | boolean | number | bigint | string | readonly JsonValue[] | { readonly [key: string]: JsonValue | undefined };

/**
 * jsoncpp layout: object keys sorted by byte order, `"key" : value`, every non-empty object or
 * array opens on its own line at the key's indent, one element per line, one more space of indent
 * per level, empty containers inline as `{}` / `[]`, no trailing newline.
 */
export function formatJsonLikeJsoncpp(value: JsonValue): string {
  const out: string[] = [];
  // jsoncpp's `indented_` flag: true when the current line holds only indentation so far.
  let atLineStart = true;
  let indent = '';

  const newline = (): void => {
    out.push('\n', indent);
  };
  const writeWithIndent = (text: string): void => {
    if (!atLineStart) newline();
    out.push(text);
    atLineStart = false;
  };
  const write = (v: JsonValue): void => {
    if (Array.isArray(v)) {
      const items = v as readonly JsonValue[];
      if (items.length === 0) {
        out.push('[]');
        return;
      }
      writeWithIndent('[');
      indent += ' ';
      items.forEach((item, i) => {
        if (!atLineStart) newline();
        atLineStart = true;
        write(item);
        atLineStart = false;
        if (i < items.length - 1) out.push(',');
      });
      indent = indent.slice(1);
      writeWithIndent(']');
      return;
    }
    if (v !== null && typeof v === 'object') {
      const obj = v as { readonly [key: string]: JsonValue | undefined };
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort(compareBytes);
      if (keys.length === 0) {
        out.push('{}');
        return;
      }
      writeWithIndent('{');
      indent += ' ';
      keys.forEach((key, i) => {
        writeWithIndent(quote(key));
        out.push(' : ');
        write(obj[key] as JsonValue);
        if (i < keys.length - 1) out.push(',');
      });
      indent = indent.slice(1);
      writeWithIndent('}');
      return;
    }
    out.push(scalar(v));
  };
  write(value);
  return out.join('');
}

function scalar(v: null | boolean | number | bigint | string): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return quote(v);
  if (!Number.isFinite(v)) return 'null';
  if (Number.isInteger(v)) return Number.isSafeInteger(v) ? String(v) : BigInt(v).toString();
  // jsoncpp prints doubles with 17 significant digits and keeps a decimal point.
  const text = v.toPrecision(17).replace(/(\.\d*?)0+(e|$)/, '$1$2').replace(/\.(e|$)/, '.0$1');
  return text.includes('.') || text.includes('e') ? text : `${text}.0`;
}

/** std::map<std::string> order: compares UTF-8 bytes, which for UTF-16 means code points. */
function compareBytes(a: string, b: string): number {
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return Buffer.compare(ba, bb);
}

const HEX = '0123456789abcdef';

function hex4(code: number): string {
  return `\\u${HEX[(code >> 12) & 15]}${HEX[(code >> 8) & 15]}${HEX[(code >> 4) & 15]}${HEX[code & 15]}`;
}

/** jsoncpp's valueToQuotedString with emitUTF8 off: non-ASCII as \uXXXX (surrogate pairs above the BMP). */
function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    switch (c) {
      case 0x22: out += '\\"'; break;
      case 0x5c: out += '\\\\'; break;
      case 0x08: out += '\\b'; break;
      case 0x0c: out += '\\f'; break;
      case 0x0a: out += '\\n'; break;
      case 0x0d: out += '\\r'; break;
      case 0x09: out += '\\t'; break;
      default:
        if (c < 0x20 || c >= 0x80) out += hex4(c);
        else out += s[i];
    }
  }
  return `${out}"`;
}
