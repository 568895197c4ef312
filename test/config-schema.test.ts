/**
 * The configuration's schema (src/config-schema.ts): unknown keys and wrong types are refused at any depth with a coded
 * error naming the key (and the nearest known one), the published JSON Schema and docs/configuration.md are what the
 * schema generates, each range they publish is the one the resolvers enforce, and the example config passes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig, type EngineConfig } from '../src/config.js';
import { nearestKey } from '../src/config-schema.js';
import { isUnwindError, type UnwindError } from '../src/errors.js';
import { resolveServerOptions, type FeedServerOptions } from '../src/feed/server-options.js';
import { readServeConfig } from '../src/cli/serve.js';
import { configurationDoc, serveConfigJsonSchema } from '../scripts/gen-config-schema.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const TOKEN = 'a-publisher-token-for-the-test';
const dir = mkdtempSync(join(tmpdir(), 'unwind-config-'));

function refusal(f: () => unknown): UnwindError {
  try {
    f();
  } catch (e) {
    if (isUnwindError(e)) return e;
    throw e;
  }
  throw new Error('accepted');
}

describe('unknown keys', () => {
  it.each<[string, EngineConfig, string, string]>([
    ['a top-level key', { scanWorker: 3 } as EngineConfig, 'scanWorker', 'unknown key; did you mean scanWorkers?'],
    ['a key of sizing', { sizing: { maxPortio: 0.5 } } as EngineConfig, 'sizing.maxPortio', 'unknown key; did you mean maxPortion?'],
    ['a key of a strategy', { execution: { strategy: { kind: 'twap', horizonSec: 60, stepSec: 5, maxParticipaton: 0.1 } } } as EngineConfig, 'execution.strategy.maxParticipaton', 'unknown key; did you mean maxParticipation?'],
    ['a key of a size class', { execution: { strategy: { kind: 'ioc' }, sizeClasses: [{ minNotional: 1e6, strategy: { kind: 'ioc' }, note: 'x' }] } } as EngineConfig, 'execution.sizeClasses[0].note', 'unknown key (expected minNotional, strategy)'],
    ['a key of an oracle source', { oracle: { markets: [{ market: 1, sources: [{ id: 1, wieght: 2 }] }] } } as EngineConfig, 'oracle.markets[0].sources[0].wieght', 'unknown key; did you mean weight?'],
    ['a key of the journal', { journal: { dir: '/nonexistent/unwind', durabilty: 'group' } } as EngineConfig, 'journal.durabilty', 'unknown key; did you mean durability?'],
  ])('in the engine config, %s: INVALID_CONFIG naming it and the nearest known key', (_what, config, field, message) => {
    const e = refusal(() => resolveConfig(config));
    expect({ code: e.code, field: e.field, message: e.message }).toEqual({ code: 'INVALID_CONFIG', field, message: `${field}: ${message}` });
  });

  it('in the server options: maxFrameByte, did you mean maxFrameBytes', () => {
    const e = refusal(() => resolveServerOptions({ publisherTokens: [TOKEN], maxFrameByte: 1 << 16 } as FeedServerOptions));
    expect({ code: e.code, field: e.field, message: e.message }).toEqual({ code: 'INVALID_CONFIG', field: 'maxFrameByte', message: 'maxFrameByte: unknown key; did you mean maxFrameBytes?' });
  });

  it('a missing required key names its object', () => {
    const e = refusal(() => resolveConfig({ execution: { strategy: { kind: 'twap', horizonSec: 60 } } } as unknown as EngineConfig));
    expect(e.code).toBe('INVALID_CONFIG');
    expect(e.field).toBe('execution.strategy.stepSec');
  });

  it('the nearest key is offered only when it is near', () => {
    expect(nearestKey('scanWorker', ['scanWorkers', 'scan'])).toBe('scanWorkers');
    expect(nearestKey('MaxFrameBytes', ['maxFrameBytes'])).toBe('maxFrameBytes');
    expect(nearestKey('colour', ['scanWorkers', 'journal'])).toBeUndefined();
  });
});

describe('wrong types the resolvers never looked at', () => {
  it('journal.log must be a function', () => {
    const e = refusal(() => resolveConfig({ journal: { dir: '/nonexistent/unwind', log: 'stderr' } } as unknown as EngineConfig));
    expect({ code: e.code, field: e.field, message: e.message }).toEqual({ code: 'INVALID_CONFIG', field: 'journal.log', message: 'journal.log: expected a function, got "stderr"' });
  });

  it('an unknown strategy kind lists the known ones', () => {
    const e = refusal(() => resolveConfig({ execution: { strategy: { kind: 'vwap' } } } as unknown as EngineConfig));
    expect(e.code).toBe('INVALID_CONFIG');
    expect(e.field).toBe('execution.strategy.kind');
  });
});

describe('the serve config file', () => {
  const file = (name: string, json: unknown): string => {
    const path = join(dir, `${name}.json`);
    writeFileSync(path, JSON.stringify(json));
    return path;
  };

  it('refuses an unknown key inside server or engine before anything starts, naming it', () => {
    expect(refusal(() => readServeConfig(file('server', { server: { port: 0, maxFrameByte: 1 } }))).message).toBe('maxFrameByte: unknown key; did you mean maxFrameBytes?');
    expect(refusal(() => readServeConfig(file('engine', { engine: { scanWorker: 3 } }))).message).toBe('scanWorker: unknown key; did you mean scanWorkers?');
    expect(refusal(() => readServeConfig(file('top', { engines: {} }))).message).toBe('engines: unknown key; did you mean engine?');
    expect(refusal(() => readServeConfig(file('market', { markets: [{ id: 1, price: 10, tiers: [{ maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 }], sybmol: 'X' }] }))).field).toBe('markets[0].sybmol');
  });

  it('unwind serve with engine.scanWorker or server.maxFrameByte exits 2 naming the key, and starts nothing', () => {
    for (const [name, json, message] of [
      ['cli-engine', { engine: { scanWorker: 3 } }, 'unwind: INVALID_CONFIG: scanWorker: unknown key; did you mean scanWorkers?'],
      ['cli-server', { server: { port: 0, maxFrameByte: 65536 } }, 'unwind: INVALID_CONFIG: maxFrameByte: unknown key; did you mean maxFrameBytes?'],
    ] as const) {
      const r = spawnSync(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), 'serve', '--config', file(name, json), '--stats-every', '0'], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(`${message}\n`);
      expect(r.stdout).toBe('');
    }
  });

  it('the example, examples/serve.config.json, passes every check (its server options too) and names the JSON Schema', () => {
    const path = join(ROOT, 'examples/serve.config.json');
    const json = JSON.parse(readFileSync(path, 'utf8')) as { $schema: string };
    expect(json.$schema).toBe('../schemas/serve-config.schema.json');
    const config = readServeConfig(path);
    expect(() => resolveServerOptions(config.server!)).not.toThrow();
    expect(() => resolveConfig(config.engine)).not.toThrow();
  });
});

describe('the published schema and reference', () => {
  it('schemas/serve-config.schema.json is what scripts/gen-config-schema.mjs generates', () => {
    expect(readFileSync(join(ROOT, 'schemas/serve-config.schema.json'), 'utf8')).toBe(serveConfigJsonSchema());
  });

  it("docs/configuration.md's tables are what scripts/gen-config-schema.mjs generates", () => {
    const doc = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
    expect(doc).toBe(configurationDoc(doc));
  });

  /** Every numeric key with a range in the JSON Schema: [path, minimum, maximum, exclusive flags, integer]. */
  type Bound = { path: string[]; lo?: number; hi?: number; loOpen: boolean; hiOpen: boolean; integer: boolean };
  function bounds(schema: Record<string, any>, path: string[], out: Bound[]): Bound[] {
    for (const [name, s] of Object.entries<Record<string, any>>(schema.properties ?? {})) {
      if (s.type === 'object') {
        // Two levels, as resolveConfig and resolveServerOptions read them (execution and journal: their own tests).
        if (path.length === 0 && name !== 'execution' && name !== 'journal') bounds(s, [...path, name], out);
      }
      else if (s.type === 'number' || s.type === 'integer') {
        const lo = s.minimum ?? s.exclusiveMinimum;
        const hi = s.maximum ?? s.exclusiveMaximum;
        if (lo !== undefined || hi !== undefined) out.push({ path: [...path, name], lo, hi, loOpen: s.minimum === undefined, hiOpen: s.maximum === undefined, integer: s.type === 'integer' });
      }
    }
    return out;
  }
  const schema = JSON.parse(serveConfigJsonSchema());
  // Keys whose range depends on another key (checked by the resolvers as such), or whose bound needs a larger table.
  const RELATIVE = new Set(['fees.maxMaintenanceShare', 'shard.index', 'sizing.emergencyHealth', 'capacity.positionsPerAccount', 'capacity.accounts', 'maxPayloadBytes', 'maxIntakeBytes', 'maxIntakeBytesPerConnection']);
  const at = (b: Bound, v: number): Record<string, unknown> => (b.path.length === 1 ? { [b.path[0]!]: v } : { [b.path[0]!]: { [b.path[1]!]: v } });
  const cases = (section: 'engine' | 'server', resolve: (c: Record<string, unknown>) => unknown) =>
    bounds(schema.properties[section], [], [])
      .filter((b) => !RELATIVE.has(b.path.join('.')))
      .flatMap((b) => {
        const step = (x: number): number => (b.integer ? 1 : Math.max(Math.abs(x) * 1e-9, 1e-9));
        const out: [string, number, boolean, Bound, typeof resolve][] = [];
        if (b.lo !== undefined) out.push([b.path.join('.'), b.lo, !b.loOpen, b, resolve], [b.path.join('.'), b.lo - step(b.lo), false, b, resolve]);
        if (b.hi !== undefined) out.push([b.path.join('.'), b.hi, !b.hiOpen, b, resolve], [b.path.join('.'), b.hi + step(b.hi), false, b, resolve]);
        return out;
      });
  const engineCases = cases('engine', (c) => resolveConfig(c as EngineConfig));
  const serverCases = cases('server', (c) => resolveServerOptions({ publisherTokens: [TOKEN], ...c } as FeedServerOptions));

  it('covers the engine and the server', () => {
    expect(engineCases.length).toBeGreaterThan(60);
    expect(serverCases.length).toBeGreaterThan(25);
  });

  it.each([...engineCases, ...serverCases])('%s = %d: accepted %s, as the published range says', (path, value, accepted, b, resolve) => {
    if (accepted) expect(() => resolve(at(b, value))).not.toThrow();
    else expect(refusal(() => resolve(at(b, value)))).toMatchObject({ code: 'INVALID_CONFIG', field: path });
  });
});
