// A list that renders only the rows in view (plus a margin), so 10,000 captures cost as much
// DOM as 30. Rows have one fixed height, read from CSS. Keyboard: the list is a listbox whose
// active row is `aria-activedescendant`; the page maps j/k to `move`.

import { h } from './dom.js';

const OVERSCAN = 8;

export function createVirtualList({ label, renderRow, onActivate, onNearEnd, emptyText = 'Nothing here yet.' }) {
  const spacer = h('div', { class: 'vl-spacer' });
  const empty = h('p', { class: 'vl-empty' }, emptyText);
  const viewport = h('div', {
    class: 'vl-viewport',
    role: 'listbox',
    'aria-label': label,
    tabindex: 0,
  }, spacer);
  const root = h('div', { class: 'vl' }, viewport, empty);
  let items = [];
  let selected = -1;
  let rowHeight = 0;
  let total = null; // known total, or null while more pages exist
  let frame = 0;

  const rowId = (item) => `row-${item.id}`;

  function measure() {
    const probe = h('div', { class: 'vl-row' }, renderRow(items[0] || { id: 'probe', probe: true }, 0));
    probe.style.visibility = 'hidden';
    spacer.append(probe);
    rowHeight = probe.getBoundingClientRect().height || 44;
    probe.remove();
  }

  function render() {
    frame = 0;
    empty.hidden = items.length > 0;
    if (!rowHeight && items.length) measure();
    spacer.style.height = `${items.length * rowHeight}px`;
    const top = viewport.scrollTop;
    const height = viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / rowHeight) - OVERSCAN);
    const last = Math.min(items.length, Math.ceil((top + height) / rowHeight) + OVERSCAN);
    const rows = [];
    for (let i = first; i < last; i += 1) {
      const item = items[i];
      const row = h('div', {
        class: ['vl-row', i === selected && 'selected'],
        role: 'option',
        id: rowId(item),
        'aria-selected': String(i === selected),
        'aria-posinset': i + 1,
        'aria-setsize': total ?? -1,
        dataset: { id: item.id, index: i },
      }, renderRow(item, i));
      row.style.transform = `translateY(${i * rowHeight}px)`;
      rows.push(row);
    }
    spacer.replaceChildren(...rows);
    if (selected >= 0 && items[selected]) viewport.setAttribute('aria-activedescendant', rowId(items[selected]));
    else viewport.removeAttribute('aria-activedescendant');
    if (onNearEnd && last >= items.length - OVERSCAN && items.length) onNearEnd();
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(render);
  }

  viewport.addEventListener('scroll', schedule, { passive: true });
  new ResizeObserver(() => {
    rowHeight = 0;
    schedule();
  }).observe(viewport);

  viewport.addEventListener('click', (e) => {
    const row = e.target.closest('.vl-row');
    if (!row || e.target.closest('a, button')) return;
    const i = Number(row.dataset.index);
    api.select(i);
    onActivate?.(items[i], i, { focus: false });
  });
  viewport.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      api.move(e.key === 'ArrowDown' ? 1 : -1);
    } else if (e.key === 'Home' || e.key === 'End') {
      e.preventDefault();
      api.select(e.key === 'Home' ? 0 : items.length - 1, { activate: true });
    } else if (e.key === 'Enter' && selected >= 0) {
      e.preventDefault();
      onActivate?.(items[selected], selected, { focus: true });
    }
  });

  function scrollIntoView(i) {
    if (!rowHeight) measure();
    const top = i * rowHeight;
    const bottom = top + rowHeight;
    if (top < viewport.scrollTop) viewport.scrollTop = top;
    else if (bottom > viewport.scrollTop + viewport.clientHeight) viewport.scrollTop = bottom - viewport.clientHeight;
  }

  const api = {
    el: root,
    viewport,
    get items() {
      return items;
    },
    get selectedIndex() {
      return selected;
    },
    setItems(next, { keepSelection } = {}) {
      const selId = keepSelection && items[selected]?.id;
      items = next;
      selected = selId ? items.findIndex((x) => x.id === selId) : -1;
      viewport.scrollTop = 0;
      render();
    },
    setTotal(n) {
      total = n;
      schedule();
    },
    /** New items at the top (newest first). Keeps what the user looks at in place. */
    prepend(newItems) {
      if (!newItems.length) return;
      const atTop = viewport.scrollTop < rowHeight / 2;
      items = newItems.concat(items);
      if (selected >= 0) selected += newItems.length;
      if (!atTop) viewport.scrollTop += newItems.length * (rowHeight || 44);
      render();
    },
    append(more) {
      items = items.concat(more);
      schedule();
    },
    update(id, fn) {
      const i = items.findIndex((x) => x.id === id);
      if (i >= 0) {
        items[i] = fn(items[i]);
        schedule();
      }
    },
    remove(id) {
      const i = items.findIndex((x) => x.id === id);
      if (i < 0) return;
      items.splice(i, 1);
      if (selected === i) selected = -1;
      else if (selected > i) selected -= 1;
      schedule();
    },
    select(i, { activate = false, scroll = true } = {}) {
      if (!items.length) return;
      selected = Math.max(0, Math.min(items.length - 1, i));
      if (scroll) scrollIntoView(selected);
      render();
      if (activate) onActivate?.(items[selected], selected, { focus: false });
    },
    selectId(id) {
      const i = items.findIndex((x) => x.id === id);
      if (i >= 0) api.select(i);
      else {
        selected = -1;
        schedule();
      }
      return i;
    },
    move(delta) {
      if (!items.length) return;
      api.select(selected < 0 ? 0 : selected + delta, { activate: true });
    },
    focus() {
      viewport.focus();
    },
    refresh: schedule,
  };
  return api;
}
