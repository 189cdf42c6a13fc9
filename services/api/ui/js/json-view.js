// A JSON viewer that shows the document as received: numbers and strings keep their exact
// source text (no float rounding of big ids, escapes as sent), duplicate keys and key order are
// kept. Objects and arrays fold with <details>, so the tree works with a keyboard and a screen
// reader without any script of its own.

import { h } from './dom.js';

const MAX_DEPTH = 256;

/** Parses `text` into nodes; throws SyntaxError with the offset when it is not JSON. */
export function parseJson(text) {
  let i = 0;
  const ws = () => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i += 1;
      else break;
    }
  };
  const fail = (what) => {
    throw new SyntaxError(`${what} at offset ${i}`);
  };
  const value = (depth) => {
    if (depth > MAX_DEPTH) fail('nested too deep');
    ws();
    const c = text[i];
    if (c === '{') {
      i += 1;
      const entries = [];
      ws();
      if (text[i] === '}') {
        i += 1;
        return { type: 'object', entries };
      }
      while (true) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const key = string();
        ws();
        if (text[i] !== ':') fail('expected `:`');
        i += 1;
        entries.push({ key, value: value(depth + 1) });
        ws();
        if (text[i] === ',') {
          i += 1;
        } else if (text[i] === '}') {
          i += 1;
          return { type: 'object', entries };
        } else fail('expected `,` or `}`');
      }
    }
    if (c === '[') {
      i += 1;
      const items = [];
      ws();
      if (text[i] === ']') {
        i += 1;
        return { type: 'array', items };
      }
      while (true) {
        items.push(value(depth + 1));
        ws();
        if (text[i] === ',') {
          i += 1;
        } else if (text[i] === ']') {
          i += 1;
          return { type: 'array', items };
        } else fail('expected `,` or `]`');
      }
    }
    if (c === '"') return { type: 'string', raw: string() };
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (m && m[0]) {
      i += m[0].length;
      return { type: 'number', raw: m[0] };
    }
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return { type: lit === 'null' ? 'null' : 'boolean', raw: lit };
      }
    }
    return fail('unexpected character');
  };
  const string = () => {
    const start = i;
    i += 1;
    while (i < text.length) {
      const c = text[i];
      if (c === '\\') i += 2;
      else if (c === '"') {
        i += 1;
        return text.slice(start, i);
      } else if (c.charCodeAt(0) < 0x20) fail('control character in a string');
      else i += 1;
    }
    return fail('unterminated string');
  };
  const root = value(0);
  ws();
  if (i !== text.length) fail('text after the JSON value');
  return root;
}

/** Pretty text, two spaces, from the parsed nodes (so literals stay as sent). */
export function prettyJson(node, indent = '') {
  const inner = `${indent}  `;
  if (node.type === 'object') {
    if (!node.entries.length) return '{}';
    return `{\n${node.entries.map((e) => `${inner}${e.key}: ${prettyJson(e.value, inner)}`).join(',\n')}\n${indent}}`;
  }
  if (node.type === 'array') {
    if (!node.items.length) return '[]';
    return `[\n${node.items.map((v) => `${inner}${prettyJson(v, inner)}`).join(',\n')}\n${indent}]`;
  }
  return node.raw;
}

export function countNodes(node) {
  if (node.type === 'object') return 1 + node.entries.reduce((n, e) => n + countNodes(e.value), 0);
  if (node.type === 'array') return 1 + node.items.reduce((n, v) => n + countNodes(v), 0);
  return 1;
}

function scalar(node) {
  return h('span', { class: `j-${node.type}` }, node.raw);
}

function summaryText(node) {
  if (node.type === 'object') return `{${node.entries.length} ${node.entries.length === 1 ? 'key' : 'keys'}}`;
  return `[${node.items.length} ${node.items.length === 1 ? 'item' : 'items'}]`;
}

function renderNode(label, node, depth, trailingComma) {
  const comma = trailingComma ? ',' : '';
  if (node.type !== 'object' && node.type !== 'array') {
    return h('div', { class: 'j-line' }, label, scalar(node), comma);
  }
  const open = node.type === 'object' ? '{' : '[';
  const close = node.type === 'object' ? '}' : ']';
  const children = node.type === 'object' ? node.entries : node.items;
  if (!children.length) return h('div', { class: 'j-line' }, label, `${open}${close}`, comma);
  const body = h('div', { class: 'j-children' });
  children.forEach((c, idx) => {
    const last = idx === children.length - 1;
    if (node.type === 'object') {
      body.append(renderNode([h('span', { class: 'j-key' }, c.key), ': '], c.value, depth + 1, !last));
    } else {
      body.append(renderNode(null, c, depth + 1, !last));
    }
  });
  return h(
    'details',
    { class: 'j-node', open: depth < 3 },
    h('summary', null, label, open, h('span', { class: 'j-count' }, ` ${summaryText(node)} `), h('span', { class: 'j-close-inline' }, `${close}${comma}`)),
    body,
    h('div', { class: 'j-line' }, close, comma),
  );
}

/** The tree for `node`, with Expand all / Collapse all. */
export function jsonTree(node) {
  const tree = h('div', { class: 'json-tree code' }, renderNode(null, node, 0, false));
  const setAll = (open) => {
    for (const d of tree.querySelectorAll('details')) d.open = open;
  };
  const tools = h(
    'div',
    { class: 'toolbar' },
    h('button', { type: 'button', class: 'btn small', onclick: () => setAll(true) }, 'Expand all'),
    h('button', { type: 'button', class: 'btn small', onclick: () => setAll(false) }, 'Collapse all'),
  );
  return h('div', { class: 'json-view' }, tools, tree);
}
