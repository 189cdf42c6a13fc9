// The body viewer: picks the view that fits the bytes — collapsible JSON, decoded form fields,
// multipart parts, text, or a hex dump for binary — and keeps the raw bytes one click away.

import { h, tabs, download, copyButton } from './dom.js';
import { formatBytes, hexLines, parseForm, utf8OrNull } from './format.js';
import { parseJson, jsonTree, prettyJson, countNodes } from './json-view.js';

const HEX_FIRST = 4096;
const HEX_MORE = 65536;
const TREE_MAX_NODES = 50_000;
const PARSE_MAX_BYTES = 8 << 20;

function mediaType(contentType) {
  return (contentType || '').split(';')[0].trim().toLowerCase();
}

function param(contentType, name) {
  const m = new RegExp(`;\\s*${name}=("([^"]*)"|[^;\\s]*)`, 'i').exec(contentType || '');
  return m ? (m[2] ?? m[1]) : null;
}

/** What the bytes are, best guess first. */
export function sniff(bytes, contentType) {
  const type = mediaType(contentType);
  const text = utf8OrNull(bytes);
  let json = null;
  let jsonError = null;
  const looksJson = type.includes('json') || (text != null && /^\s*[[{]/.test(text));
  if (text != null && looksJson && bytes.length <= PARSE_MAX_BYTES) {
    try {
      json = parseJson(text);
    } catch (e) {
      jsonError = e.message;
    }
  }
  let form = null;
  if (text != null && type === 'application/x-www-form-urlencoded') form = parseForm(text);
  let parts = null;
  if (type.startsWith('multipart/') && param(contentType, 'boundary')) parts = parseMultipart(bytes, param(contentType, 'boundary'));
  let kind = 'hex';
  if (bytes.length === 0) kind = 'empty';
  else if (json) kind = 'json';
  else if (form) kind = 'form';
  else if (parts) kind = 'multipart';
  else if (text != null) kind = 'text';
  return { kind, text, json, jsonError: type.includes('json') ? jsonError : null, form, parts };
}

function indexOf(bytes, needle, from) {
  outer: for (let i = from; i <= bytes.length - needle.length; i += 1) {
    for (let j = 0; j < needle.length; j += 1) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Splits a multipart body into parts: headers, name, filename, content type, bytes. */
export function parseMultipart(bytes, boundary) {
  const enc = new TextEncoder();
  const delim = enc.encode(`--${boundary}`);
  const parts = [];
  let pos = indexOf(bytes, delim, 0);
  if (pos < 0) return null;
  while (pos >= 0) {
    let start = pos + delim.length;
    if (bytes[start] === 0x2d && bytes[start + 1] === 0x2d) break; // closing delimiter
    if (bytes[start] === 0x0d) start += 1;
    if (bytes[start] === 0x0a) start += 1;
    const next = indexOf(bytes, delim, start);
    if (next < 0) break;
    let end = next;
    if (bytes[end - 1] === 0x0a) end -= 1;
    if (bytes[end - 1] === 0x0d) end -= 1;
    const part = bytes.subarray(start, end);
    const sep = indexOf(part, enc.encode('\r\n\r\n'), 0);
    const headEnd = sep >= 0 ? sep : indexOf(part, enc.encode('\n\n'), 0);
    const head = new TextDecoder().decode(part.subarray(0, Math.max(0, headEnd)));
    const body = part.subarray(headEnd >= 0 ? headEnd + (sep >= 0 ? 4 : 2) : part.length);
    const headers = head.split(/\r?\n/).filter(Boolean).map((l) => {
      const c = l.indexOf(':');
      return { name: l.slice(0, c).trim(), value: l.slice(c + 1).trim() };
    });
    const disp = headers.find((x) => x.name.toLowerCase() === 'content-disposition')?.value || '';
    const ct = headers.find((x) => x.name.toLowerCase() === 'content-type')?.value || null;
    parts.push({ name: param(`x;${disp}`, 'name'), filename: param(`x;${disp}`, 'filename'), contentType: ct, headers, bytes: body });
    pos = next;
  }
  return parts;
}

function hexView(bytes) {
  let shown = Math.min(bytes.length, HEX_FIRST);
  const pre = h('pre', { class: 'hex code', tabindex: 0, 'aria-label': 'Body as hex dump: offset, bytes, printable characters' });
  const note = h('p', { class: 'hint' });
  const more = h('button', { type: 'button', class: 'btn small' });
  const render = () => {
    pre.textContent = hexLines(bytes, 0, shown).join('\n');
    note.textContent = shown < bytes.length
      ? `Showing bytes 0–${shown - 1} of ${bytes.length.toLocaleString('en')}. Download the raw body for all of it.`
      : `${bytes.length.toLocaleString('en')} bytes.`;
    more.hidden = shown >= bytes.length;
    more.textContent = `Show ${formatBytes(Math.min(HEX_MORE, bytes.length - shown))} more`;
  };
  more.addEventListener('click', () => {
    shown = Math.min(bytes.length, shown + HEX_MORE);
    render();
  });
  render();
  return h('div', { class: 'hex-view' }, pre, note, more);
}

function textView(bytes, text) {
  const lossy = text == null;
  const shownText = lossy ? new TextDecoder('utf-8').decode(bytes) : text;
  const pre = h('pre', { class: 'text-body code wrap', tabindex: 0, 'aria-label': 'Body as text' }, shownText);
  const wrap = h('input', { type: 'checkbox', checked: true, onchange: (e) => pre.classList.toggle('wrap', e.target.checked) });
  return h(
    'div',
    null,
    lossy ? h('p', { class: 'hint warn' }, 'The body is not valid UTF-8; bytes that are not are shown as �. The hex view and the download have them exactly.') : null,
    h('label', { class: 'inline-check' }, wrap, ' Wrap long lines'),
    pre,
  );
}

function formView(fields) {
  if (!fields.length) return h('p', { class: 'hint' }, 'The form has no fields.');
  return h(
    'table',
    { class: 'kv' },
    h('caption', { class: 'visually-hidden' }, 'Form fields, in the order sent'),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Value'))),
    h('tbody', null, fields.map((f) => h('tr', null, h('th', { scope: 'row' }, f.name), h('td', null, f.value == null ? h('em', null, '(no value)') : f.value)))),
  );
}

function multipartView(parts) {
  return h(
    'table',
    { class: 'kv' },
    h('caption', { class: 'visually-hidden' }, 'Multipart parts, in the order sent'),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Content'))),
    h('tbody', null, parts.map((p) => {
      const text = p.filename == null ? utf8OrNull(p.bytes) : null;
      return h(
        'tr',
        null,
        h('th', { scope: 'row' }, p.name ?? '(unnamed)'),
        h('td', null, text != null && p.bytes.length <= 4096
          ? text
          : h('span', null, `${p.filename ? `file “${p.filename}”, ` : ''}${p.contentType || 'no content type'}, ${formatBytes(p.bytes.length)} `,
            h('button', { type: 'button', class: 'btn small', onclick: () => download(p.filename || `${p.name || 'part'}.bin`, p.bytes, p.contentType || 'application/octet-stream') }, 'Download part'))),
      );
    })),
  );
}

function jsonView(json) {
  const n = countNodes(json);
  if (n > TREE_MAX_NODES) {
    return h('div', null, h('p', { class: 'hint' }, `${n.toLocaleString('en')} values: shown as text rather than a tree.`), h('pre', { class: 'code', tabindex: 0 }, prettyJson(json)));
  }
  return jsonTree(json);
}

/**
 * The viewer for a body. `filename` names the download. Returns {el, kind}.
 */
export function bodyView(bytes, { contentType, sha256, filename = 'body.bin', selected } = {}) {
  const s = sniff(bytes, contentType);
  const header = h(
    'div',
    { class: 'body-meta' },
    h('span', null, formatBytes(bytes.length), bytes.length >= 1024 ? ` (${bytes.length.toLocaleString('en')} bytes)` : ''),
    sha256 ? h('span', { class: 'sha' }, 'SHA-256 ', h('code', { class: 'sha-value' }, sha256)) : null,
    h('button', { type: 'button', class: 'btn small', onclick: () => download(filename, bytes, contentType || 'application/octet-stream') }, 'Download raw body'),
    s.text != null && bytes.length ? copyButton('Copy body', () => s.text) : null,
  );
  if (s.kind === 'empty') return { el: h('div', { class: 'body-view' }, header, h('p', { class: 'hint' }, 'No body (0 bytes).')), kind: 'empty' };
  const items = [];
  if (s.kind === 'json') items.push({ key: 'pretty', label: 'JSON', render: () => jsonView(s.json) });
  if (s.kind === 'form') items.push({ key: 'pretty', label: 'Form fields', render: () => formView(s.form) });
  if (s.kind === 'multipart') items.push({ key: 'pretty', label: 'Parts', render: () => multipartView(s.parts) });
  items.push({ key: 'text', label: s.text == null ? 'Text (lossy)' : 'Text', render: () => textView(bytes, s.text) });
  items.push({ key: 'hex', label: 'Hex', render: () => hexView(bytes) });
  const initial = selected && items.some((i) => i.key === selected) ? selected : items[0].key === 'pretty' ? 'pretty' : s.kind === 'text' ? 'text' : 'hex';
  const t = tabs(items, { label: 'Body view', selected: initial });
  return {
    el: h('div', { class: 'body-view', dataset: { kind: s.kind } }, header, s.jsonError ? h('p', { class: 'hint warn' }, `Declared as JSON but does not parse: ${s.jsonError}.`) : null, t.el),
    kind: s.kind,
  };
}
