// Element building without HTML strings: every captured byte reaches the page as text, never as
// markup (the page’s Trusted Types policy would refuse HTML sinks anyway).

import { formatTime } from './format.js';

const PROPS = new Set(['value', 'checked', 'selected', 'indeterminate', 'open']);

/** h('button', {class: 'x', onclick: f}, 'text', child, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (PROPS.has(k)) el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces every child of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/**
 * An absolute time as shown everywhere: date, local time and offset, with the instant as the
 * server sent it (ISO 8601, UTC) in `datetime` and as the tooltip.
 */
export function timeEl(iso, { ms = true, class: cls } = {}) {
  return h('time', { datetime: iso, title: iso, class: cls }, formatTime(iso, { ms }));
}

/** Text with `code` spans, as the API writes them, rendered as <code>. */
export function prose(text) {
  const parts = String(text).split('`');
  return parts.map((p, i) => (i % 2 ? h('code', null, p) : p));
}

let uid = 0;
/** A fresh id for label/aria wiring. */
export function id(prefix = 'el') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form field: returns {wrap, input, error}. */
export function field(label, input, { hint, field: name } = {}) {
  const inputId = input.id || id('f');
  input.id = inputId;
  if (name) input.dataset.field = name;
  const errorId = `${inputId}-error`;
  const hintId = hint ? `${inputId}-hint` : null;
  if (hintId) input.setAttribute('aria-describedby', hintId);
  const error = h('p', { class: 'field-error', id: errorId, hidden: true });
  const wrap = h(
    'div',
    { class: 'field' },
    h('label', { for: inputId }, label),
    input,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    error,
  );
  return { wrap, input, error };
}

/** Copies text, with a fallback for pages not served over a secure context. */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the selection-based copy
  }
  const ta = h('textarea', { class: 'offscreen', readonly: true, 'aria-hidden': 'true' });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}

/**
 * A button that copies `getText()` and says so for a moment. `name` is its accessible name when
 * the visible label alone would not say what is copied (several "Copy" buttons side by side).
 */
export function copyButton(label, getText, { class: cls = 'btn small', name } = {}) {
  const status = h('span', { class: 'copy-status', role: 'status' });
  const btn = h('button', {
    type: 'button',
    class: cls,
    'aria-label': name,
    onclick: async () => {
      let ok = false;
      try {
        ok = await copyText(typeof getText === 'function' ? await getText() : getText);
      } catch (e) {
        status.textContent = `Copy failed: ${e.message}`;
        return;
      }
      status.textContent = ok ? 'Copied' : 'Copy failed: select the text and copy it by hand';
      setTimeout(() => {
        status.textContent = '';
      }, 2500);
    },
  }, label);
  return h('span', { class: 'copy' }, btn, status);
}

/** Offers bytes as a file download. */
export function download(filename, bytes, type = 'application/octet-stream') {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = h('a', { href: url, download: filename, class: 'offscreen' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A disclosure section using <details>, keyboard accessible without script. */
export function details(summary, content, { open = false, class: cls } = {}) {
  return h('details', { class: cls, open }, h('summary', null, summary), content);
}

/** Tabs following the WAI-ARIA pattern: arrow keys move between tabs. */
export function tabs(items, { label, selected = 0, onchange } = {}) {
  const list = h('div', { role: 'tablist', 'aria-label': label, class: 'tabs' });
  const panels = h('div', { class: 'tab-panels' });
  const buttons = [];
  const panelEls = [];
  const select = (i, focus) => {
    buttons.forEach((b, j) => {
      b.setAttribute('aria-selected', String(i === j));
      b.tabIndex = i === j ? 0 : -1;
      panelEls[j].hidden = i !== j;
    });
    if (focus) buttons[i].focus();
    const render = items[i].render;
    if (render && !panelEls[i].dataset.rendered) {
      panelEls[i].dataset.rendered = '1';
      mount(panelEls[i], render());
    }
    onchange?.(items[i].key, i);
  };
  items.forEach((item, i) => {
    const tabId = id('tab');
    const panelId = id('panel');
    const b = h('button', {
      type: 'button',
      role: 'tab',
      id: tabId,
      'aria-controls': panelId,
      class: 'tab',
      dataset: { key: item.key },
      onclick: () => select(i, false),
      onkeydown: (e) => {
        const n = items.length;
        let to = null;
        if (e.key === 'ArrowRight') to = (i + 1) % n;
        else if (e.key === 'ArrowLeft') to = (i - 1 + n) % n;
        else if (e.key === 'Home') to = 0;
        else if (e.key === 'End') to = n - 1;
        if (to != null) {
          e.preventDefault();
          select(to, true);
        }
      },
    }, item.label);
    const panel = h('div', { role: 'tabpanel', id: panelId, 'aria-labelledby': tabId, tabindex: 0, class: 'tab-panel' });
    if (item.content) append(panel, [item.content]);
    buttons.push(b);
    panelEls.push(panel);
    list.append(b);
    panels.append(panel);
  });
  const initial = typeof selected === 'string' ? Math.max(0, items.findIndex((t) => t.key === selected)) : selected;
  select(initial, false);
  return { el: h('div', { class: 'tabset' }, list, panels), select: (key) => select(items.findIndex((t) => t.key === key), false) };
}
