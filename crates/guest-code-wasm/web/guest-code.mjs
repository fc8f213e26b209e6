// Latchkey guest codes in the browser: the `latchkey-guest-code` crate, compiled to
// WebAssembly (guest-code.wasm, built by scripts/build-wasm.sh from crates/guest-code-wasm),
// behind a small API. The same code mints and checks codes in the lock, the server, the CLI and
// here; docs/guest-codes.md, "WebAssembly", describes this module.
//
//   import { load } from '/static/guest-code.mjs';
//   const gc = await load();                       // fetches guest-code.wasm next to this file
//   const issuer = gc.parseIssuer(fileText);       // { issuerId, lockId, slot, epoch }
//   const m = gc.mint(fileText, { start, end, oneTime, taken, now: Date.now() });
//   m.code                                         // '009028588003'
//
// Errors are thrown as GuestCodeError: `kind` is stable (for programs and translations),
// `message` is the English text of the Rust code, the same as `latchkey guest-code mint`
// prints. The module reads no clock and needs no randomness: `now` is an argument.

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Requests larger than this are refused before they reach the module. */
const MAX_REQUEST_BYTES = 1 << 20;

/** A refusal from the guest-code module (or from this wrapper, for arguments it cannot pass on). */
export class GuestCodeError extends Error {
  /**
   * @param {string} kind one of issuer-file, secret-file, lock-id-too-long, wrong-lock, no-lock,
   *   empty-window, window-too-long, start-out-of-range, bad-taken, all-taken, slot-not-active,
   *   bad-request, internal
   * @param {string} message one line of English
   */
  constructor(kind, message) {
    super(message);
    this.name = 'GuestCodeError';
    this.kind = kind;
  }
}

/**
 * Compiles and instantiates the module.
 *
 * @param {undefined | string | URL | Response | BufferSource | WebAssembly.Module} [source]
 *   where the .wasm is: by default `guest-code.wasm` beside this module, fetched; a URL to
 *   fetch; a fetch Response; the bytes; or a compiled module.
 * @returns {Promise<GuestCodes>}
 */
export async function load(source) {
  let module;
  if (source instanceof WebAssembly.Module) {
    module = source;
  } else if (source === undefined || typeof source === 'string' || source instanceof URL) {
    const url = source === undefined ? new URL('guest-code.wasm', import.meta.url) : source;
    module = await compileResponse(await fetch(url), String(url));
  } else if (typeof Response !== 'undefined' && source instanceof Response) {
    module = await compileResponse(source, source.url || 'the response');
  } else {
    module = await WebAssembly.compile(source);
  }
  const instance = await WebAssembly.instantiate(module, {});
  return new GuestCodes(instance.exports);
}

async function compileResponse(response, what) {
  if (!response.ok) {
    throw new Error(`could not load the guest-code module from ${what}: HTTP ${response.status}`);
  }
  const type = response.headers.get('content-type') || '';
  if (typeof WebAssembly.compileStreaming === 'function' && type.split(';')[0].trim() === 'application/wasm') {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

/** Unix seconds of a Date or of milliseconds since the epoch (as `Date.now()` gives). */
function seconds(value, name) {
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) {
    throw new GuestCodeError('bad-request', `${name} must be a Date or milliseconds since 1970`);
  }
  // Whole seconds, truncated as the CLI's time library does.
  const s = Math.trunc(ms / 1000);
  if (!Number.isSafeInteger(s)) {
    throw new GuestCodeError('bad-request', `${name} is out of range`);
  }
  return s === 0 ? 0 : s; // no -0 in the JSON
}

function text(value, name) {
  if (typeof value !== 'string') {
    throw new GuestCodeError('bad-request', `${name} must be a string`);
  }
  return value;
}

/** A copy of `o` with the Unix seconds under `keys` (where present) as Dates. */
function withDates(o, ...keys) {
  const r = { ...o };
  for (const k of keys) if (r[k] !== undefined) r[k] = new Date(r[k] * 1000);
  return r;
}

/** The module's functions, once loaded. Every method is synchronous. */
export class GuestCodes {
  #ex;
  #broken = false;

  constructor(exports) {
    this.#ex = exports;
  }

  /**
   * Reads and validates an issuer file (`latchkey-issuer/1`, what `POST /locks/{id}/issuers`
   * returns in `file`).
   *
   * @param {string} issuerFile the file's text
   * @returns {{issuerId: string, lockId: string | null, slot: number, epoch: number}}
   */
  parseIssuer(issuerFile) {
    return this.#call('lk_parse_issuer', text(issuerFile, 'the issuer file'));
  }

  /**
   * Mints a guest code as `latchkey guest-code mint` does: the window rounded out to whole
   * hours (at most 168), for the lock the file names. With `taken` (every code this issuer
   * file ever minted, revoked and expired ones too), a window whose code was already given out
   * is widened by an hour at the end, the start or both, as the server does; when none is
   * left the error's kind is `all-taken`.
   *
   * @param {string} issuerFile the issuer file's text
   * @param {object} request
   * @param {Date|number} request.start start of the guest's window
   * @param {Date|number} request.end end of the window (exclusive)
   * @param {boolean} [request.oneTime] the lock accepts the code once
   * @param {string} [request.lock] the lock's id; needed only when the file names none
   * @param {string[]} [request.taken] codes this issuer already made
   * @param {Date|number} [request.now] the device's clock, for the warnings (default: now)
   * @returns {{code: string, lockId: string, slot: number, epoch: number, oneTime: boolean,
   *   start: Date, end: Date, hours: number, rounded: boolean,
   *   widened: 'none'|'end'|'start'|'both',
   *   warnings: {kind: 'ended'|'not-recognised-yet', at?: Date, message: string}[]}}
   */
  mint(issuerFile, { start, end, oneTime = false, lock, taken = [], now = Date.now() } = {}) {
    if (!Array.isArray(taken) || !taken.every((t) => typeof t === 'string')) {
      throw new GuestCodeError('bad-request', 'taken must be a list of codes');
    }
    const request = {
      issuer: text(issuerFile, 'the issuer file'),
      start: seconds(start, 'start'),
      end: seconds(end, 'end'),
      oneTime: Boolean(oneTime),
      now: seconds(now, 'now'),
      taken,
    };
    if (lock !== undefined && lock !== null) request.lock = text(lock, 'lock');
    const m = this.#call('lk_mint', JSON.stringify(request));
    return { ...withDates(m, 'start', 'end'), warnings: m.warnings.map((w) => withDates(w, 'at')) };
  }

  /**
   * Checks one entry as `latchkey guest-code verify` does, for a lock holding `secretFile`
   * (`latchkey-lock-secret/1`). For tests and tools: a browser never holds a root secret.
   *
   * @param {string} secretFile
   * @param {{code: string, lock: string, at: Date|number}} request
   * @returns {{verdict: 'granted'|'denied', reason?: string, slot?: number, start?: Date,
   *   end?: Date, serial?: number, oneTime?: boolean, line: string}}
   */
  check(secretFile, { code, lock, at } = {}) {
    const v = this.#call(
      'lk_check',
      JSON.stringify({
        secret: text(secretFile, 'the lock secret file'),
        lock: text(lock, 'lock'),
        code: text(code, 'code'),
        at: seconds(at, 'at'),
      }),
    );
    return withDates(v, 'start', 'end');
  }

  /**
   * The issuer file of an active slot of a lock secret file, as `latchkey guest-code keygen`
   * writes it. For tests and tools.
   *
   * @param {string} secretFile
   * @param {{slot: number, issuerId: string, lock?: string|null}} request
   * @returns {string}
   */
  issuerFileFromSecret(secretFile, { slot, issuerId, lock = null } = {}) {
    if (!Number.isInteger(slot) || slot < 0 || slot > 255) {
      throw new GuestCodeError('bad-request', 'slot must be a whole number');
    }
    const request = {
      secret: text(secretFile, 'the lock secret file'),
      slot,
      issuerId: text(issuerId, 'issuerId'),
    };
    if (lock !== null && lock !== undefined) request.lock = text(lock, 'lock');
    return this.#call('lk_issuer_file', JSON.stringify(request));
  }

  /** Bytes of linear memory the module holds (it grows, never shrinks). */
  get memoryBytes() {
    return this.#ex.memory.buffer.byteLength;
  }

  #call(name, input) {
    if (this.#broken) {
      throw new GuestCodeError('internal', 'the guest-code module failed earlier; load it again');
    }
    const bytes = encoder.encode(input);
    if (bytes.length > MAX_REQUEST_BYTES) {
      throw new GuestCodeError('bad-request', 'the request is larger than 1 MiB');
    }
    const ex = this.#ex;
    let status;
    let output;
    try {
      const at = ex.lk_input(bytes.length) >>> 0;
      // Views are made after each call into the module: growing memory detaches old ones.
      new Uint8Array(ex.memory.buffer, at, bytes.length).set(bytes);
      status = ex[name]();
      const ptr = ex.lk_output_ptr() >>> 0;
      const len = ex.lk_output_len() >>> 0;
      output = decoder.decode(new Uint8Array(ex.memory.buffer, ptr, len));
    } catch (e) {
      // The Rust code does not panic; if the module ever traps, it is not used again.
      this.#broken = true;
      throw new GuestCodeError('internal', `the guest-code module failed: ${e.message}`);
    }
    const value = JSON.parse(output);
    if (status !== 0) throw new GuestCodeError(value.kind, value.message);
    return value;
  }
}
