// Formatting helpers: sizes, times, bytes, sentences.

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u += 1;
  } while (v >= 1024 && u < units.length - 1);
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** The browser's offset from UTC at `d`, as "UTC", "UTC+01:00" or "UTC-05:30". */
export function zoneLabel(d) {
  const off = -d.getTimezoneOffset();
  if (off === 0) return 'UTC';
  const a = Math.abs(off);
  return `UTC${off < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

/**
 * "2026-12-05 14:03:07.123 UTC+01:00": local time, always with the date and the offset, so a
 * time read off a screenshot or pasted into a bug report means one instant wherever it is read.
 * Milliseconds where they tell requests apart (receipts, attempts); `{ ms: false }` elsewhere.
 */
export function formatTime(iso, { ms = true } = {}) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (x, n = 2) => String(x).padStart(n, '0');
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${ms ? `.${pad(d.getMilliseconds(), 3)}` : ''}`;
  return `${date} ${time} ${zoneLabel(d)}`;
}

/** "3 s ago", "5 min ago"… for titles and notes. */
export function ago(iso) {
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return `${Math.max(0, s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/**
 * "in 45 s", "in 25 min", "in 3 h", "in 12 d" until `iso`; null once it is past. Minutes up to
 * 90 and hours up to 48, so "in 60 min" never reads as "in 1 h" of a rounded 1.4 h.
 */
export function inWords(iso) {
  const s = (new Date(iso).getTime() - Date.now()) / 1000;
  if (!(s > 0)) return null;
  if (s < 60) return `in ${Math.max(1, Math.round(s))} s`;
  const min = Math.round(s / 60);
  if (min < 90) return `in ${min} min`;
  const hours = Math.round(s / 3600);
  if (hours < 48) return `in ${hours} h`;
  return `in ${Math.round(s / 86400)} d`;
}

export function base64ToBytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToBase64(bytes) {
  let bin = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + chunk));
  }
  return btoa(bin);
}

/** The bytes as UTF-8 text, or null when they are not valid UTF-8. */
export function utf8OrNull(bytes) {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** `hexdump -C` style lines: offset, 16 bytes in two groups of 8, printable ASCII. */
export function hexLines(bytes, start = 0, end = bytes.length) {
  const lines = [];
  for (let off = start; off < end; off += 16) {
    const row = bytes.subarray(off, Math.min(off + 16, end));
    let hex = '';
    let ascii = '';
    for (let i = 0; i < 16; i += 1) {
      if (i === 8) hex += ' ';
      if (i < row.length) {
        hex += `${HEX[row[i]]} `;
        ascii += row[i] >= 0x20 && row[i] < 0x7f ? String.fromCharCode(row[i]) : '.';
      } else {
        hex += '   ';
      }
    }
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex} |${ascii}|`);
  }
  return lines;
}

/** An API message as a sentence: capital first letter, final full stop. */
export function sentence(text) {
  let s = String(text || '').trim();
  if (!s) return 'Something went wrong.';
  s = s[0].toUpperCase() + s.slice(1);
  return /[.!?)]$/.test(s) ? s : `${s}.`;
}

export function plural(n, one, many = `${one}s`) {
  return `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
}

/** Parses `a=1&b=x+y&a=2` keeping order and duplicates; values decoded as forms are. */
export function parseForm(text) {
  if (!text) return [];
  return text.split('&').filter((p) => p.length > 0).map((pair) => {
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const rawValue = eq < 0 ? null : pair.slice(eq + 1);
    return { name: decodeForm(rawName), value: rawValue == null ? null : decodeForm(rawValue), raw: pair };
  });
}

function decodeForm(s) {
  const plus = s.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}

export async function sha256Hex(bytes) {
  if (!crypto.subtle) return null;
  const d = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(d), (b) => HEX[b]).join('');
}
