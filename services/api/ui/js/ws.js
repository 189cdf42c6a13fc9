// Live updates: a graphql-transport-ws client for `graphql/ws` that reconnects.
//
// - Authenticates in connection_init (`{authorization: "Bearer …"}`), as the API expects.
// - When the connection drops (server restart, network loss, a dead connection found by the
//   ping every 15 s) it reconnects with exponential backoff and jitter (0.5 s doubling to 15 s),
//   re-subscribes everything, and calls each subscription's `resync` so views can fetch what
//   arrived meanwhile. `state` events tell the page what is going on, so it can say so.
// - A subscription ended with `LAGGED` is resumed the same way; `UNAUTHENTICATED` (a revoked
//   token) stops reconnecting and is reported with `onAuthFailure`.

import { endpointUrl } from './api.js';

const PING_EVERY_MS = 15_000;
const PONG_WITHIN_MS = 8_000;
const ACK_WITHIN_MS = 10_000;
const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 15_000;

export function wsUrl() {
  const u = new URL(endpointUrl('graphql/ws'));
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}

export class LiveClient extends EventTarget {
  constructor(getToken, { url = wsUrl() } = {}) {
    super();
    this.getToken = getToken;
    this.url = url;
    this.subs = new Map();
    this.nextId = 1;
    this.socket = null;
    this.acked = false;
    this.attempt = 0;
    // True after the connection was lost (not closed on purpose): the next ack is a reconnect.
    this.dropped = false;
    this.closed = false;
    this.retryTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.ackTimer = null;
    this.state = 'idle';
    this.retryAt = null;
    this.lastError = null;
    this.onOnline = () => {
      if (this.state === 'reconnecting') this.reconnectNow();
    };
    window.addEventListener('online', this.onOnline);
  }

  setState(state, detail = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, attempt: this.attempt, retryAt: this.retryAt, ...detail } }));
  }

  /** Starts a subscription; returns a function that stops it. */
  subscribe(query, variables, handlers) {
    const id = String(this.nextId++);
    const sub = { id, query, variables, handlers, active: true };
    this.subs.set(id, sub);
    if (this.socket && this.acked) this.sendSubscribe(sub);
    else this.ensureConnected();
    return () => {
      sub.active = false;
      if (this.subs.delete(id) && this.acked) this.send({ id, type: 'complete' });
      if (this.subs.size === 0) this.idleSoon();
    };
  }

  ensureConnected() {
    if (this.closed || this.socket || this.retryTimer) return;
    this.connect();
  }

  connect() {
    clearTimeout(this.idleTimer);
    this.retryTimer = null;
    this.retryAt = null;
    this.acked = false;
    this.setState(this.dropped ? 'reconnecting' : 'connecting', { connecting: true });
    let socket;
    try {
      socket = new WebSocket(this.url, 'graphql-transport-ws');
    } catch (e) {
      this.scheduleReconnect(String(e.message || e));
      return;
    }
    this.socket = socket;
    socket.addEventListener('open', () => {
      this.send({ type: 'connection_init', payload: { authorization: `Bearer ${this.getToken()}` } });
      this.ackTimer = setTimeout(() => socket.close(4408, 'no connection_ack'), ACK_WITHIN_MS);
    });
    socket.addEventListener('message', (ev) => this.onMessage(socket, ev));
    socket.addEventListener('close', (ev) => this.onClose(socket, ev));
    // 'error' is always followed by 'close', which decides what happens.
  }

  onMessage(socket, ev) {
    if (socket !== this.socket) return;
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    switch (msg.type) {
      case 'connection_ack': {
        clearTimeout(this.ackTimer);
        const wasReconnect = this.dropped;
        this.acked = true;
        this.dropped = false;
        this.attempt = 0;
        this.lastError = null;
        this.startPing();
        for (const sub of this.subs.values()) {
          this.sendSubscribe(sub);
          if (wasReconnect) sub.handlers.resync?.('reconnected');
        }
        this.setState('live', { reconnected: wasReconnect });
        break;
      }
      case 'next': {
        const sub = this.subs.get(msg.id);
        if (!sub) break;
        const errors = msg.payload?.errors;
        if (errors?.length) this.onSubError(sub, errors);
        else sub.handlers.next?.(msg.payload.data);
        break;
      }
      case 'error': {
        const sub = this.subs.get(msg.id);
        if (sub) this.onSubError(sub, Array.isArray(msg.payload) ? msg.payload : [msg.payload]);
        break;
      }
      case 'complete': {
        const sub = this.subs.get(msg.id);
        if (sub && sub.active) {
          this.subs.delete(msg.id);
          sub.handlers.complete?.();
        }
        break;
      }
      case 'ping':
        this.send({ type: 'pong' });
        break;
      case 'pong':
        clearTimeout(this.pongTimer);
        break;
      default:
        break;
    }
  }

  onSubError(sub, errors) {
    const code = errors[0]?.extensions?.code;
    if (code === 'LAGGED') {
      // The server dropped us for being slow: subscribe again under a new id and catch up.
      this.subs.delete(sub.id);
      const id = String(this.nextId++);
      const again = { ...sub, id };
      this.subs.set(id, again);
      this.sendSubscribe(again);
      again.handlers.resync?.('lagged');
      return;
    }
    if (code === 'UNAUTHENTICATED') {
      this.fail(errors[0].message);
      return;
    }
    this.subs.delete(sub.id);
    sub.handlers.error?.(errors);
  }

  sendSubscribe(sub) {
    this.send({ id: sub.id, type: 'subscribe', payload: { query: sub.query, variables: sub.variables } });
  }

  send(msg) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(msg));
  }

  startPing() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      this.send({ type: 'ping' });
      clearTimeout(this.pongTimer);
      const socket = this.socket;
      this.pongTimer = setTimeout(() => socket?.close(4408, 'no pong'), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  stopTimers() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    clearTimeout(this.ackTimer);
  }

  onClose(socket, ev) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.acked = false;
    this.stopTimers();
    if (this.closed) return;
    // The server refuses a bad token in connection_init with 1002 and the reason.
    if (/not authenticated/i.test(ev.reason || '')) {
      this.fail(ev.reason);
      return;
    }
    if (this.subs.size === 0) {
      // Nothing to keep alive: connect again when something subscribes.
      this.setState('idle');
      return;
    }
    this.scheduleReconnect(ev.reason || (ev.code === 1006 ? 'the connection was lost' : `closed with code ${ev.code}`));
  }

  scheduleReconnect(reason) {
    this.dropped = true;
    this.attempt += 1;
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** (this.attempt - 1));
    const delay = Math.round(cap / 2 + (Math.random() * cap) / 2);
    this.retryAt = Date.now() + delay;
    this.lastError = reason;
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.setState('reconnecting', { reason, delay });
  }

  /** Skips the wait (the "Retry now" button, or the browser saying it is online again). */
  reconnectNow() {
    if (this.socket || this.closed) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  fail(message) {
    this.closed = true;
    this.stopTimers();
    clearTimeout(this.retryTimer);
    const s = this.socket;
    this.socket = null;
    s?.close(1000, 'unauthenticated');
    this.setState('unauthenticated', { reason: message });
  }

  /** Closes the connection a while after the last subscription ended. */
  idleSoon() {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.subs.size === 0 && this.socket) {
        const s = this.socket;
        this.socket = null;
        this.stopTimers();
        s.close(1000, 'idle');
        this.setState('idle');
      }
    }, 30_000);
  }

  close() {
    this.closed = true;
    this.stopTimers();
    clearTimeout(this.retryTimer);
    clearTimeout(this.idleTimer);
    window.removeEventListener('online', this.onOnline);
    const s = this.socket;
    this.socket = null;
    s?.close(1000, 'signed out');
    this.subs.clear();
    this.setState('closed');
  }
}
