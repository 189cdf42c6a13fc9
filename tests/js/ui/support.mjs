// Helpers for ui.e2e.mjs: the browser, real curl, a local receiver, signing, axe-core scans,
// screenshots and step timing.

import { spawn } from 'node:child_process';
import { createHmac, createHash } from 'node:crypto';
import { readFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

export class Failure extends Error {}

export function assert(cond, message) {
  if (!cond) throw new Failure(message);
}

export function assertEq(actual, expected, what) {
  if (actual !== expected) {
    throw new Failure(`${what}:\n  expected ${JSON.stringify(expected)}\n  actual   ${JSON.stringify(actual)}`);
  }
}

export async function launch() {
  const executablePath = process.env.HOOKMETRY_CHROMIUM || '/usr/bin/chromium';
  return chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/**
 * Watches a page for what must never happen: uncaught errors, failed assertions of the page's
 * own policy (CSP, Trusted Types) and console errors other than the expected ones.
 */
export function watchPage(page) {
  const problems = [];
  const expected = [];
  page.on('pageerror', (e) => problems.push(`uncaught error: ${e.message}`));
  page.on('console', (m) => {
    const text = m.text();
    if (/Content Security Policy|Trusted Type|Refused to/i.test(text)) problems.push(`policy violation: ${text}`);
    else if (m.type() === 'error' && !expected.some((re) => re.test(text))) problems.push(`console error: ${text}`);
  });
  return {
    problems,
    /** Console errors matching `re` are expected (a deliberate 401, a dropped socket). */
    expect(re) {
      expected.push(re);
    },
    check() {
      assert(problems.length === 0, `the page reported problems:\n  ${problems.join('\n  ')}`);
    },
  };
}

/** Runs the real `curl`; returns stdout as a Buffer. */
export function curl(args, input) {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['--silent', '--show-error', '--fail-with-body', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Failure(`curl ${args.join(' ')} exited ${code}: ${Buffer.concat(err)}${Buffer.concat(out)}`));
    });
    child.stdin.end(input ?? undefined);
  });
}

/** Sends a webhook with curl; returns the capture id from ingest's answer. */
export async function sendWebhook(url, { method = 'POST', headers = [], body }) {
  const args = ['-X', method, url];
  for (const [n, v] of headers) args.push('-H', `${n}: ${v}`);
  if (body != null) args.push('--data-binary', '@-');
  const out = await curl(args, body);
  const id = JSON.parse(out.toString('utf8')).id;
  assert(typeof id === 'string' && id.length > 0, `ingest answered without an id: ${out}`);
  return id;
}

/** Stripe's scheme: HMAC-SHA256 of `<t>.<body>` keyed with the whole whsec_ secret. */
export function stripeSignature(secret, timestamp, body) {
  const mac = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

export function sha256Hex(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

/** An HTTP server on 127.0.0.1 that records every request and answers from `responses`. */
export async function startReceiver() {
  const received = [];
  const responses = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) });
      const r = responses.shift() || { status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' };
      res.writeHead(r.status, r.headers);
      res.end(r.body);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    received,
    /** Queues the answer for a later request. */
    answer(r) {
      responses.push(r);
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core on the page as it is and fails listing every serious or critical violation.
 * axe is evaluated through the DevTools protocol, which the page's CSP does not govern, so the
 * page is checked under its real policy.
 */
export async function axeScan(page, screen) {
  const loaded = await page.evaluate(() => typeof window.axe === 'object');
  if (!loaded) await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert(bad.length === 0, `axe-core found serious or critical violations on ${screen}:\n${bad.map((v) => `  [${v.impact}] ${v.id}: ${v.help}\n      ${v.nodes.join('\n      ')}`).join('\n')}`);
  return violations.length;
}

/** Saves a PNG when HOOKMETRY_UI_SCREENSHOTS names a directory. */
export async function screenshot(page, name) {
  const dir = process.env.HOOKMETRY_UI_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`) });
}

/** Runs named steps, printing each with its time; stops at the first failure. */
export function stepper() {
  const started = Date.now();
  let passed = 0;
  return {
    async step(name, fn) {
      const t = Date.now();
      try {
        await fn();
      } catch (e) {
        console.log(`FAIL ${name} (${Date.now() - t} ms)`);
        throw e;
      }
      passed += 1;
      console.log(`ok   ${name} (${Date.now() - t} ms)`);
    },
    done() {
      console.log(`ui e2e: ${passed} steps in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    },
  };
}
