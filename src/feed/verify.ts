/**
 * Structural verifier of our FlatBuffers frames. The generated accessors (and the `flatbuffers` runtime under them)
 * do no bounds checking: an offset out of range reads `undefined` bytes from the Uint8Array and silently returns
 * garbage. So every byte an accessor of schemas/unwind.fbs could touch is proven in range here first; after
 * `verifyTable` passes, the generated code reads only inside the buffer.
 *
 * The rules, as the runtime reads (node_modules/flatbuffers/mjs/byte-buffer.js):
 *
 *   buffer:  [u32 root offset][4-byte file identifier] ... tables, vtables, vectors, strings ...
 *   table t: [i32 soffset] fields...        vtable = t - soffset  (read as int32, may point either way)
 *   vtable:  [i16 vtable bytes][i16 table bytes][i16 field offset] * n   (int16: `__offset` uses readInt16)
 *            field id k lives at vtable + 4 + 2k when that is < vtable bytes, else it is absent (offset 0)
 *   offset field at p: [u32 u] -> target p + u  (uoffsets point forward, so the walk cannot loop; read as int32
 *            by the runtime, so u must be < 2^31)
 *   vector v: [u32 n][n elements]        string s: [u32 n][n bytes of UTF-8][0]
 *   vector of strings or tables: [u32 n][u32 uoffset] * n, each element's offset relative to its own position
 *
 * Checked besides ranges: alignment of every table (4), vtable (2), scalar field (its size), vector and string
 * (4) and struct element (its alignment), as the C++ verifier does; required fields; a zero terminator on strings;
 * and an "apparent size" budget: the bytes of all tables, vectors and strings reached must not exceed the frame,
 * so a small frame whose offsets all point at one big string cannot decode into gigabytes.
 */

export type FieldSpec =
  | { readonly id: number; readonly name: string; readonly kind: 'scalar'; readonly size: 1 | 2 | 4 | 8 }
  | { readonly id: number; readonly name: string; readonly kind: 'string'; readonly required?: boolean }
  | { readonly id: number; readonly name: string; readonly kind: 'scalars'; readonly size: 1 | 2 | 4 | 8; readonly required?: boolean }
  | { readonly id: number; readonly name: string; readonly kind: 'strings'; readonly required?: boolean }
  | {
      readonly id: number;
      readonly name: string;
      readonly kind: 'structs';
      readonly size: number;
      readonly align: number;
      readonly required?: boolean;
    }
  | { readonly id: number; readonly name: string; readonly kind: 'tables'; readonly table: TableSpec; readonly required?: boolean }
  /** One nested table (e.g. OpenOrder.order), verified with its own spec. */
  | { readonly id: number; readonly name: string; readonly kind: 'table'; readonly table: TableSpec; readonly required?: boolean }
  /** The union's value offset; its type byte is the scalar field at `id - 1`. Verified by the caller per member. */
  | { readonly id: number; readonly name: string; readonly kind: 'union' };

export interface TableSpec {
  /** The table's name in schemas/unwind.fbs (test/feed-codec.test.ts checks these specs against the generated code). */
  readonly name: string;
  readonly fields: readonly FieldSpec[];
}

const MAX_UOFFSET = 0x7fffffff;

export class FrameVerifier {
  private bytes: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(new ArrayBuffer(0));
  private length = 0;
  private budget = 0;
  /** Why the last verification failed, naming the table and field. */
  failure = '';

  /** Starts verifying a new frame. */
  reset(bytes: Uint8Array): void {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.length = bytes.byteLength;
    this.budget = bytes.byteLength;
    this.failure = '';
  }

  /** The root table's position (bytes 0..4), or -1. The caller has checked length >= 8. */
  root(): number {
    const u = this.view.getUint32(0, true);
    if (u === 0 || u > MAX_UOFFSET) return this.fail('root offset', `root offset ${u} out of range`);
    return u;
  }

  /** The target of the uoffset stored at `p`, or -1 (p + 4 must already be proven in range). */
  private follow(p: number, what: string): number {
    const u = this.view.getUint32(p, true);
    if (u === 0 || u > MAX_UOFFSET || p + u >= this.length) return this.fail(what, `offset ${u} at byte ${p} points outside the ${this.length}-byte frame`);
    return p + u;
  }

  /**
   * Position of field `id` of the table at `t` (already verified by `verifyTable`), 0 when absent.
   * Mirrors the runtime's `__offset`.
   */
  fieldPosition(t: number, id: number): number {
    const vt = t - this.view.getInt32(t, true);
    const vo = 4 + 2 * id;
    if (vo >= this.view.getInt16(vt, true)) return 0;
    const fo = this.view.getInt16(vt + vo, true);
    return fo === 0 ? 0 : t + fo;
  }

  /** Table at `t`: header, vtable, and every field of `spec` (recursively). False with `failure` set when not. */
  verifyTable(t: number, spec: TableSpec, deep = true): boolean {
    const v = this.view;
    const len = this.length;
    const name = spec.name;
    if (t < 0 || t % 4 !== 0 || t + 4 > len) return this.fail(name, `table at byte ${t} misaligned or out of range`) >= 0;
    const vt = t - v.getInt32(t, true);
    if (vt < 0 || vt % 2 !== 0 || vt + 4 > len) return this.fail(name, `vtable at byte ${vt} misaligned or out of range`) >= 0;
    const vtBytes = v.getInt16(vt, true);
    const tBytes = v.getInt16(vt + 2, true);
    if (vtBytes < 4 || vtBytes % 2 !== 0 || vt + vtBytes > len) return this.fail(name, `vtable size ${vtBytes} invalid`) >= 0;
    if (tBytes < 4 || t + tBytes > len) return this.fail(name, `table size ${tBytes} invalid`) >= 0;
    if (!this.charge(tBytes, name)) return false;
    for (const f of spec.fields) {
      const vo = 4 + 2 * f.id;
      const fo = vo < vtBytes ? v.getInt16(vt + vo, true) : 0;
      const where = `${name}.${f.name}`;
      if (fo === 0) {
        if ('required' in f && f.required === true) return this.fail(where, 'required field missing') >= 0;
        continue;
      }
      const size = f.kind === 'scalar' ? f.size : 4;
      if (fo < 4 || fo + size > tBytes) return this.fail(where, `field offset ${fo} outside the ${tBytes}-byte table`) >= 0;
      const p = t + fo;
      if (p % size !== 0) return this.fail(where, `field at byte ${p} misaligned`) >= 0;
      switch (f.kind) {
        case 'scalar':
          break;
        case 'string':
          if (!this.verifyString(this.follow(p, where), where)) return false;
          break;
        case 'scalars':
          if (this.verifyVector(this.follow(p, where), f.size, f.size, where) < 0) return false;
          break;
        case 'structs':
          if (this.verifyVector(this.follow(p, where), f.size, f.align, where) < 0) return false;
          break;
        case 'strings': {
          const vec = this.follow(p, where);
          const n = this.verifyVector(vec, 4, 4, where);
          if (n < 0) return false;
          for (let i = 0; i < n; i++) {
            if (!this.verifyString(this.follow(vec + 4 + 4 * i, `${where}[${i}]`), `${where}[${i}]`)) return false;
          }
          break;
        }
        case 'tables': {
          const vec = this.follow(p, where);
          const n = this.verifyVector(vec, 4, 4, where);
          if (n < 0) return false;
          if (!deep) break;
          for (let i = 0; i < n; i++) {
            const e = vec + 4 + 4 * i;
            const child = this.follow(e, `${where}[${i}]`);
            if (child < 0 || !this.verifyTable(child, f.table)) return false;
          }
          break;
        }
        case 'table':
          if (!this.verifyTable(this.follow(p, where), f.table)) return false;
          break;
        case 'union':
          if (this.follow(p, where) < 0) return false; // the member table: verified by the caller once its type is known
          break;
      }
    }
    return true;
  }

  /** Target of union field `id` of verified table `t` (present and in range when verifyTable passed), or 0. */
  unionTarget(t: number, id: number): number {
    const p = this.fieldPosition(t, id);
    return p === 0 ? 0 : p + this.view.getUint32(p, true);
  }

  private verifyString(s: number, where: string): boolean {
    if (s < 0) return false;
    if (s % 4 !== 0 || s + 4 > this.length) return this.fail(where, `string at byte ${s} misaligned or out of range`) >= 0;
    const n = this.view.getUint32(s, true);
    if (s + 4 + n + 1 > this.length) return this.fail(where, `string of ${n} bytes runs past the frame`) >= 0;
    if (this.bytes[s + 4 + n] !== 0) return this.fail(where, 'string not zero-terminated') >= 0;
    return this.charge(4 + n + 1, where);
  }

  /** Vector at `vec` of `elemSize`-byte elements whose first element is `align`-aligned: its length, or -1. */
  private verifyVector(vec: number, elemSize: number, align: number, where: string): number {
    if (vec < 0) return -1;
    if (vec % 4 !== 0 || vec + 4 > this.length) return this.fail(where, `vector at byte ${vec} misaligned or out of range`);
    if ((vec + 4) % align !== 0) return this.fail(where, `vector elements at byte ${vec + 4} not ${align}-aligned`);
    const n = this.view.getUint32(vec, true);
    const bytes = n * elemSize; // exact: n < 2^32, elemSize <= 64
    if (vec + 4 + bytes > this.length) return this.fail(where, `vector of ${n} elements runs past the frame`);
    return this.charge(4 + bytes, where) ? n : -1;
  }

  private charge(bytes: number, where: string): boolean {
    this.budget -= bytes;
    return this.budget >= 0 || this.fail(where, 'objects reached exceed the frame size (overlapping offsets)') >= 0;
  }

  /** Records the first failure; returns -1 so callers can `return this.fail(...)` from number- or boolean-typed checks. */
  private fail(where: string, why: string): -1 {
    if (this.failure === '') this.failure = `${where}: ${why}`;
    return -1;
  }
}
