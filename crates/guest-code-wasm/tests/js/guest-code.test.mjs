// The WebAssembly build of latchkey-guest-code, through web/guest-code.mjs, as a browser uses
// it. Run by tests/node.rs (`cargo nextest run`), or alone: `node --test` on this file.
//
// - every test vector of docs/guest-codes.md, read from the document;
// - tests/fixtures/mint-cases.json: the CLI's refusals and notes, word for word;
// - codes minted here from an issuer file that the Rust code wrote (LK_ISSUER_FILE), written
//   to LK_MINTED for tests/node.rs to check with the Rust `check`;
// - loading, bad arguments and garbage input.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';

import { GuestCodeError, GuestCodes, load } from '../../web/guest-code.mjs';

const wasmBytes = readFileSync(new URL('../../web/guest-code.wasm', import.meta.url));
const DOC = readFileSync(new URL('../../../../docs/guest-codes.md', import.meta.url), 'utf8');
const CASES = JSON.parse(readFileSync(new URL('../fixtures/mint-cases.json', import.meta.url), 'utf8'));

const gc = await load(wasmBytes);

/** The body rows of the table after `<!-- vectors:NAME -->`, as tests/vectors.rs reads them. */
function table(name) {
  const marker = `<!-- vectors:${name} -->`;
  const at = DOC.indexOf(marker);
  assert.ok(at >= 0, `no ${marker} in the doc`);
  const lines = DOC.slice(at + marker.length).trimStart().split('\n');
  const rows = [];
  for (const line of lines) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .trim()
        .replace(/^\|/, '')
        .replace(/\|$/, '')
        .split('|')
        .map((c) => c.trim().replace(/^`+|`+$/g, '')),
    );
  }
  assert.ok(rows.length > 2, `table ${name} is empty`);
  return rows.slice(2);
}

const secrets = Object.fromEntries(table('secrets').map(([name, hex]) => [name, hex]));

function pairs(cell) {
  if (cell === '-') return [];
  return cell.split(/\s+/).map((p) => {
    const [slot, epoch] = p.split(':').map(Number);
    return { slot, epoch };
  });
}

/** A lock secret file (`latchkey-lock-secret/1`). */
function secretFile(name, issuers, revoked = '-') {
  return JSON.stringify({
    format: 'latchkey-lock-secret/1',
    secret: secrets[name],
    issuers: pairs(issuers),
    revoked: pairs(revoked),
  });
}

/** The CLI's instants: RFC 3339 in UTC, whole seconds. */
const iso = (d) => d.toISOString().replace('.000Z', 'Z');

test('the module needs nothing from JavaScript: no clock, no randomness', () => {
  const module = new WebAssembly.Module(wasmBytes);
  assert.deepEqual(WebAssembly.Module.imports(module), []);
  const exports = WebAssembly.Module.exports(module).map((e) => e.name);
  for (const name of ['memory', 'lk_input', 'lk_output_ptr', 'lk_output_len', 'lk_parse_issuer', 'lk_mint', 'lk_check', 'lk_issuer_file']) {
    assert.ok(exports.includes(name), name);
  }
  // Small enough to cache with the app shell (scripts/build-wasm.sh prints the size).
  assert.ok(wasmBytes.length < 256 * 1024, `${wasmBytes.length} bytes`);
});

test('issuer keys match the doc', () => {
  const rows = table('keys');
  assert.ok(rows.length >= 7);
  for (const [secret, slot, epoch, key] of rows) {
    const file = gc.issuerFileFromSecret(secretFile(secret, `${slot}:${epoch}`), {
      slot: Number(slot),
      issuerId: 'vector',
    });
    assert.equal(JSON.parse(file).key, key, `${secret} ${slot}:${epoch}`);
    const info = gc.parseIssuer(file);
    assert.deepEqual(info, { issuerId: 'vector', lockId: null, slot: Number(slot), epoch: Number(epoch) });
  }
});

test('minted codes match the doc', () => {
  const rows = table('mint');
  assert.ok(rows.length >= 9);
  let windows = 0;
  for (const row of rows) {
    const [n, secret, lock, slot, epoch, window, oneTime, effective, code] = row;
    const secretText = secretFile(secret, `${slot}:${epoch}`);
    const flag = { yes: true, no: false }[oneTime];
    assert.equal(typeof flag, 'boolean', `one-time ${oneTime}`);
    const held = window.match(/^held (\d+)$/);
    if (held) {
      // Only the server makes held keys; the lock side checks them here.
      const v = gc.check(secretText, { code, lock, at: Date.parse('2025-03-01T10:00:00Z') });
      assert.equal(v.line, `granted slot=${slot} held serial=${held[1]} one_time=${flag}`, `vector ${n}`);
      continue;
    }
    const [start, end] = window.split('/').map((t) => new Date(t));
    const issuer = gc.issuerFileFromSecret(secretText, { slot: Number(slot), issuerId: `vector-${n}`, lock });
    // The lock from the file, then from the request (the same id).
    for (const given of [undefined, lock]) {
      const m = gc.mint(issuer, { start, end, oneTime: flag, lock: given, now: start });
      assert.equal(m.code, code, `vector ${n}`);
      assert.equal(`${iso(m.start)}/${iso(m.end)}`, effective, `vector ${n}`);
      assert.equal(m.rounded, effective !== window, `vector ${n}`);
      assert.deepEqual(
        [m.lockId, m.slot, m.epoch, m.oneTime, m.widened],
        [lock, Number(slot), Number(epoch), flag, 'none'],
      );
      assert.equal(m.hours, (m.end - m.start) / 3_600_000);
    }
    // And the lock agrees, at the first second of the window.
    const [from] = effective.split('/');
    const v = gc.check(secretText, { code, lock, at: new Date(from) });
    assert.equal(v.verdict, 'granted', `vector ${n}: ${v.line}`);
    assert.equal(`${iso(v.start)}/${iso(v.end)}`, effective);
    windows += 1;
  }
  assert.ok(windows >= 7);
});

test('verdicts match the doc', () => {
  const rows = table('verify');
  assert.ok(rows.length >= 32);
  for (const [n, code, secret, lock, issuers, revoked, at, want] of rows) {
    const secretText = secretFile(secret, issuers, revoked);
    for (const entry of [code, `${code}#`, ` ${code} # `]) {
      const v = gc.check(secretText, { code: entry, lock, at: new Date(at) });
      assert.equal(v.line, want, `vector ${n} (${JSON.stringify(entry)})`);
    }
    // The structured answer says what the line says.
    const v = gc.check(secretText, { code, lock, at: new Date(at) });
    if (v.verdict === 'denied') {
      assert.equal(`denied ${v.reason}`, want);
    } else if (v.serial !== undefined) {
      assert.equal(`granted slot=${v.slot} held serial=${v.serial} one_time=${v.oneTime}`, want);
    } else {
      assert.equal(`granted slot=${v.slot} start=${iso(v.start)} end=${iso(v.end)} one_time=${v.oneTime}`, want);
    }
  }
});

test('the example files of the doc read', () => {
  const blocks = DOC.split('```json\n').slice(1).map((b) => b.split('```')[0]);
  assert.equal(blocks.length, 2);
  assert.deepEqual(gc.parseIssuer(blocks[0]), { issuerId: 'adm-phone-7f3a', lockId: 'lock-0001', slot: 1, epoch: 1 });
  // The issuer example is secret A's slot 1 at epoch 1, revoked in the lock secret example.
  const m = gc.mint(blocks[0], { start: Date.parse('2025-03-01T10:00:00Z'), end: Date.parse('2025-03-01T11:00:00Z'), oneTime: true, now: 0 });
  assert.equal(m.code, '187624890289');
  const v = gc.check(blocks[1], { code: m.code, lock: 'lock-0001', at: m.start });
  assert.equal(v.line, 'denied revoked');
});

test('refusals and notes are the CLI\'s (tests/fixtures/mint-cases.json)', () => {
  const now = Date.parse(CASES.now);
  assert.ok(CASES.cases.length >= 20);
  for (const c of CASES.cases) {
    const request = {
      start: new Date(c.start),
      end: new Date(c.end),
      oneTime: c.oneTime ?? false,
      lock: c.lock,
      now,
    };
    const file = CASES.files[c.file];
    assert.equal(typeof file, 'string', c.file);
    if (c.error) {
      assert.throws(
        () => gc.mint(file, request),
        (e) => {
          assert.ok(e instanceof GuestCodeError, String(e));
          assert.deepEqual({ kind: e.kind, message: e.message }, c.error, c.name);
          return true;
        },
        c.name,
      );
      if (c.error.kind === 'issuer-file') {
        assert.throws(() => gc.parseIssuer(file), { kind: 'issuer-file', message: c.error.message });
      }
    } else {
      const m = gc.mint(file, request);
      assert.equal(m.code, c.code, c.name);
      assert.equal(`${iso(m.start)}/${iso(m.end)}`, c.window, c.name);
      assert.deepEqual(
        m.warnings.map((w) => ({ kind: w.kind, message: w.message })),
        c.warnings,
        c.name,
      );
      for (const w of m.warnings) {
        if (w.kind === 'not-recognised-yet') assert.equal(w.at.getTime(), m.start.getTime() - 176 * 3_600_000);
      }
    }
  }
});

test('a window whose code was given out is widened by an hour, as the server does', () => {
  const issuer = CASES.files['doc-example'];
  const start = Date.parse('2030-06-01T15:00:00Z');
  const end = Date.parse('2030-06-02T11:00:00Z');
  const taken = [];
  const got = [];
  for (;;) {
    let m;
    try {
      m = gc.mint(issuer, { start, end, taken, now: start });
    } catch (e) {
      assert.equal(e.kind, 'all-taken');
      break;
    }
    assert.ok(!taken.includes(m.code));
    taken.push(m.code);
    got.push([m.widened, iso(m.start), iso(m.end)]);
  }
  assert.deepEqual(got, [
    ['none', '2030-06-01T15:00:00Z', '2030-06-02T11:00:00Z'],
    ['end', '2030-06-01T15:00:00Z', '2030-06-02T12:00:00Z'],
    ['start', '2030-06-01T14:00:00Z', '2030-06-02T11:00:00Z'],
    ['both', '2030-06-01T14:00:00Z', '2030-06-02T12:00:00Z'],
  ]);
  // The one-time flag is part of the code: its own four.
  assert.equal(gc.mint(issuer, { start, end, taken, oneTime: true, now: start }).widened, 'none');
  assert.throws(() => gc.mint(issuer, { start, end, taken: ['0000'], now: start }), {
    kind: 'bad-taken',
    message: 'taken: "0000" is not a 12-digit code',
  });
});

test('codes minted from an issuer file the Rust code wrote (checked in tests/node.rs)', (t) => {
  const path = process.env.LK_ISSUER_FILE;
  const out = process.env.LK_MINTED;
  if (!path || !out) {
    t.skip('run through tests/node.rs, which writes the issuer file and checks the codes');
    return;
  }
  const issuer = readFileSync(path, 'utf8');
  const info = gc.parseIssuer(issuer);
  assert.ok(info.lockId, 'the file names its lock');
  const minted = [];
  const add = (request) => {
    const m = gc.mint(issuer, request);
    minted.push({
      start: Math.trunc(request.start / 1000),
      end: Math.trunc(request.end / 1000),
      oneTime: request.oneTime,
      taken: request.taken,
      code: m.code,
      codeStart: m.start.getTime() / 1000,
      codeEnd: m.end.getTime() / 1000,
      widened: m.widened,
    });
    return m;
  };
  // Windows off the hour of every length that rounds out to 1 to 168 hours, from a fixed seed.
  let x = 0x2545f491;
  const next = (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  const base = Date.parse('2027-01-01T00:00:00Z');
  for (let i = 0; i < 400; i++) {
    const start = base + next(3 * 365 * 24 * 3600) * 1000;
    const hours = 1 + (i % 167);
    const end = start + (hours - 1) * 3_600_000 + (1 + next(3600)) * 1000;
    add({ start, end, oneTime: i % 3 === 0, taken: [], now: start });
  }
  const hour = Date.parse('2028-02-28T22:00:00Z');
  add({ start: hour, end: hour + 168 * 3_600_000, oneTime: true, taken: [], now: 0 });
  // Widening, on whole hours, until nothing is left.
  const start = Date.parse('2027-07-01T15:00:00Z');
  const end = Date.parse('2027-07-03T11:00:00Z');
  const taken = [];
  for (let i = 0; i < 4; i++) taken.push(add({ start, end, oneTime: false, taken: [...taken], now: start }).code);
  assert.throws(() => gc.mint(issuer, { start, end, taken, now: start }), { kind: 'all-taken' });
  writeFileSync(out, JSON.stringify({ issuer: info, minted }));
});

test('load() fetches and compiles the module, streaming when the server says application/wasm', async () => {
  const server = createServer((req, res) => {
    if (req.url === '/wasm') res.writeHead(200, { 'content-type': 'application/wasm' });
    else if (req.url === '/octets') res.writeHead(200, { 'content-type': 'application/octet-stream' });
    else {
      res.writeHead(404).end();
      return;
    }
    res.end(wasmBytes);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    for (const source of [`${base}/wasm`, new URL(`${base}/octets`), await fetch(`${base}/wasm`)]) {
      const loaded = await load(source);
      assert.ok(loaded instanceof GuestCodes);
      assert.equal(loaded.parseIssuer(CASES.files['doc-example']).slot, 1);
    }
    await assert.rejects(load(`${base}/missing`), /HTTP 404/);
  } finally {
    server.close();
  }
  const compiled = await load(new WebAssembly.Module(wasmBytes));
  assert.equal(compiled.parseIssuer(CASES.files['server-style']).issuerId, 'iss_3q0f2x');
});

test('bad arguments are GuestCodeErrors, never a crash', () => {
  const issuer = CASES.files['doc-example'];
  const ok = { start: Date.parse('2030-01-01T10:00:00Z'), end: Date.parse('2030-01-01T11:00:00Z'), now: 0 };
  const bad = [
    () => gc.parseIssuer(undefined),
    () => gc.parseIssuer({}),
    () => gc.mint(issuer, { ...ok, start: 'tomorrow' }),
    () => gc.mint(issuer, { ...ok, end: new Date('not a date') }),
    () => gc.mint(issuer, { ...ok, start: Infinity }),
    () => gc.mint(issuer, { ...ok, now: 1e300 }),
    () => gc.mint(issuer, { ...ok, taken: 'x' }),
    () => gc.mint(issuer, { ...ok, taken: [1] }),
    () => gc.mint(issuer, { ...ok, lock: 7 }),
    () => gc.mint(issuer),
    () => gc.check('{}', { code: '1', lock: 'l', at: 0 }),
    () => gc.check(secretFile('A', '0:1'), { code: 1, lock: 'l', at: 0 }),
    () => gc.issuerFileFromSecret(secretFile('A', '0:1'), { slot: 1, issuerId: 'x' }),
    () => gc.issuerFileFromSecret(secretFile('A', '0:1'), { slot: -1, issuerId: 'x' }),
    () => gc.issuerFileFromSecret(secretFile('A', '0:1'), { slot: 0, issuerId: '' }),
    () => gc.parseIssuer('x'.repeat(2 << 20)),
  ];
  for (const f of bad) {
    assert.throws(f, (e) => e instanceof GuestCodeError && e.kind !== 'internal' && e.message.length > 0 && !e.message.includes('\n'), String(f));
  }
  // Still working.
  assert.equal(gc.mint(issuer, ok).hours, 1);
});

test('garbage issuer files are refused with a message, and memory stays bounded', () => {
  const good = CASES.files['doc-example'];
  let x = 7;
  const rand = (n) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  const alphabet = '{}[]":,\\0123456789abcdefxyz \n\u00e9\u{1F511}\ud800-';
  let refused = 0;
  for (let i = 0; i < 3000; i++) {
    const chars = [...good];
    for (let k = 1 + rand(4); k > 0; k--) {
      const at = rand(chars.length);
      const op = rand(3);
      if (op === 0) chars.splice(at, 1);
      else if (op === 1) chars.splice(at, 0, alphabet[rand(alphabet.length)]);
      else chars[at] = alphabet[rand(alphabet.length)];
    }
    const text = chars.join('');
    try {
      const info = gc.parseIssuer(text);
      assert.ok(info.slot >= 0 && info.slot <= 7);
    } catch (e) {
      assert.ok(e instanceof GuestCodeError && e.kind === 'issuer-file', String(e));
      assert.ok(e.message.startsWith('issuer file: ') && !e.message.includes('\n'), e.message);
      refused += 1;
    }
  }
  assert.ok(refused > 2000, `${refused} refused`);
  const before = gc.memoryBytes;
  const request = { start: Date.parse('2030-01-01T10:00:00Z'), end: Date.parse('2030-01-02T10:00:00Z'), now: 0, taken: Array(500).fill('000000000000') };
  for (let i = 0; i < 2000; i++) gc.mint(good, request);
  assert.ok(gc.memoryBytes <= Math.max(before, 4 << 20), `${before} -> ${gc.memoryBytes} bytes`);
});
