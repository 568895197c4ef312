// Writes schemas/serve-config.schema.json and the reference tables of docs/configuration.md from the one schema
// definition, src/config-schema.ts (as built in dist/: run `npm run build` first). Idempotent: test/config-schema.test.ts
// checks that both committed files equal what this writes.
//
//   node scripts/gen-config-schema.mjs          # rewrite both files
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { toJsonSchema } from '@valibot/to-json-schema';
import { SCHEMA_DEFINITIONS, serveConfigSchema } from '../dist/src/config-schema.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const SCHEMA_FILE = `${ROOT}schemas/serve-config.schema.json`;
export const DOC_FILE = `${ROOT}docs/configuration.md`;
const BEGIN = '<!-- BEGIN GENERATED: node scripts/gen-config-schema.mjs -->';
const END = '<!-- END GENERATED -->';

/** The serve config's JSON Schema (draft-07), as text. A function-valued key (journal.log) is API only: `not: {}`. */
export function serveConfigJsonSchema() {
  const body = toJsonSchema(serveConfigSchema, {
    definitions: SCHEMA_DEFINITIONS,
    overrideSchema: ({ valibotSchema }) => (valibotSchema.type === 'function' ? { not: {} } : undefined),
  });
  const { $schema, ...rest } = body;
  const schema = {
    $schema,
    title: 'unwind serve config',
    description: 'The config file of `unwind serve` (docs/configuration.md). Generated from src/config-schema.ts by scripts/gen-config-schema.mjs: do not edit.',
    ...rest,
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

const typeOf = (s) => {
  if (s.not !== undefined) return 'function (API only)';
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum !== undefined) return s.enum.map((e) => JSON.stringify(e)).join(' | ');
  if (s.anyOf !== undefined) return s.anyOf.map(typeOf).join(' | ');
  if (s.oneOf !== undefined) return 'one of the kinds below';
  if (s.$ref !== undefined) return typeOf(deref(s));
  if (s.type === 'array') return `array of ${s.items === undefined ? 'any' : Array.isArray(s.items) ? `[${s.items.map(typeOf).join(', ')}]` : typeOf(s.items)}`;
  return s.type ?? 'any';
};

const fmt = (n) => (Number.isInteger(n) && Math.abs(n) >= 10_000 ? n.toLocaleString('en-US') : String(n));

/** Range and size keywords as text: "[0, 64]", "> 0", "1 to 16 items". */
function range(s) {
  const t = s;
  const lo = t.minimum !== undefined ? ['[', t.minimum] : t.exclusiveMinimum !== undefined ? ['(', t.exclusiveMinimum] : undefined;
  const hi = t.maximum !== undefined ? [t.maximum, ']'] : t.exclusiveMaximum !== undefined ? [t.exclusiveMaximum, ')'] : undefined;
  const parts = [];
  if (lo !== undefined && hi !== undefined) parts.push(`${lo[0]}${fmt(lo[1])}, ${fmt(hi[0])}${hi[1]}`);
  else if (lo !== undefined) parts.push(`${lo[0] === '[' ? '>=' : '>'} ${fmt(lo[1])}`);
  else if (hi !== undefined) parts.push(`${hi[1] === ']' ? '<=' : '<'} ${fmt(hi[0])}`);
  if (t.minLength !== undefined) parts.push(t.minLength === 1 ? 'non-empty' : `at least ${t.minLength} characters`);
  if (t.maxLength !== undefined) parts.push(`at most ${t.maxLength} characters`);
  if (t.minItems !== undefined) parts.push(`at least ${t.minItems} item${t.minItems === 1 ? '' : 's'}`);
  if (t.maxItems !== undefined) parts.push(`at most ${t.maxItems} items`);
  if (t.pattern !== undefined) parts.push(`matches \`${t.pattern}\``);
  return parts.join(', ');
}

const cell = (x) => String(x ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
const defaultOf = (s) => (s['x-default'] !== undefined ? s['x-default'] : s.default !== undefined ? `\`${JSON.stringify(s.default)}\`` : '');

/** `s` with a `$ref` (#/definitions/Name) replaced by what it names, recursively one level at a time. */
let definitions = {};
const deref = (s) => (s?.$ref === undefined ? s : { ...deref(definitions[s.$ref.split('/').pop()]), ...Object.fromEntries(Object.entries(s).filter(([k]) => k !== '$ref')) });

/** Rows of one object's keys, depth first; tagged unions (oneOf on kind) go to `unions`, each kind once. */
function rows(schema, path, out, unions) {
  const required = new Set(schema.required ?? []);
  for (const [name, raw] of Object.entries(schema.properties ?? {})) {
    const s = deref(raw);
    if (s.type === 'array' && s.items !== undefined && !Array.isArray(s.items)) s.items = deref(s.items);
    if (s.oneOf !== undefined) s.oneOf = s.oneOf.map(deref);
    const at = path === '' ? name : `${path}.${name}`;
    const type = typeOf(s);
    const need = required.has(name) ? 'required' : defaultOf(s);
    const source = s['x-source'] ?? (need === '' || need === 'required' ? '' : 'Unwind');
    out.push(`| \`${at}\` | ${cell(type)}${range(s) === '' ? '' : `, ${cell(range(s))}`} | ${cell(need)} | ${cell(source)} | ${cell(s.description)} |`);
    const inner = s.type === 'array' && s.items !== undefined && !Array.isArray(s.items) ? s.items : s;
    const suffix = inner === s ? '' : '[]';
    if (inner.oneOf !== undefined) inner.oneOf = inner.oneOf.map(deref);
    if (inner.oneOf !== undefined) for (const variant of inner.oneOf) unions.set(variant.properties?.kind?.const ?? JSON.stringify(variant), variant);
    else if (inner.type === 'object') rows(inner, `${at}${suffix}`, out, unions);
  }
}

const HEADER = '| key | type and range | default | default from | what it does |\n| --- | --- | --- | --- | --- |';

/** The generated part of docs/configuration.md: one table per section of the file, then one per tagged-union kind. */
export function referenceTables(jsonSchemaText = serveConfigJsonSchema()) {
  const schema = JSON.parse(jsonSchemaText);
  definitions = schema.$defs ?? schema.definitions ?? {};
  const parts = [];
  const unions = new Map();
  for (const section of ['server', 'engine', 'markets', 'accounts']) {
    const s = schema.properties[section];
    const inner = s.type === 'array' ? s.items : s;
    const out = [];
    rows(inner, section === 'server' || section === 'engine' ? '' : `${section}[]`, out, unions);
    parts.push(`### \`${section}\`\n\n${s.description}${defaultOf(s) === '' ? '' : ` Default: ${defaultOf(s)}.`}\n\n${HEADER}\n${out.join('\n')}\n`);
  }
  // Kinds found inside kinds (adaptive's patient, dutch-auction's decrease) are listed too.
  const seen = new Set();
  const kindRows = [];
  for (let queue = [...unions]; queue.length > 0; ) {
    const [kind, variant] = queue.shift();
    if (seen.has(kind)) continue;
    seen.add(kind);
    const out = [];
    const more = new Map();
    rows({ ...variant, properties: Object.fromEntries(Object.entries(variant.properties).filter(([k]) => k !== 'kind')) }, '', out, more);
    queue.push(...more);
    kindRows.push(`#### \`kind: ${kind}\`\n\n${out.length === 0 ? 'No other keys.' : `${HEADER}\n${out.join('\n')}`}\n`);
  }
  parts.push(`### Tagged unions (\`kind\`)\n\nExecution strategies (\`execution.strategy\`, \`sizeClasses[].strategy\`, \`markets[].strategy\`, \`adaptive.patient\`, \`adaptive.urgent\`) and \`dutch-auction\`'s \`decrease\` name their kind; each kind takes these keys.\n\n${kindRows.join('\n')}`);
  return parts.join('\n');
}

/** docs/configuration.md with its generated part replaced. */
export function configurationDoc(current = readFileSync(DOC_FILE, 'utf8'), jsonSchemaText = serveConfigJsonSchema()) {
  const begin = current.indexOf(BEGIN);
  const end = current.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`${DOC_FILE}: expected the markers ${BEGIN} ... ${END}`);
  return `${current.slice(0, begin + BEGIN.length)}\n\n${referenceTables(jsonSchemaText)}\n${current.slice(end)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = serveConfigJsonSchema();
  writeFileSync(SCHEMA_FILE, text);
  writeFileSync(DOC_FILE, configurationDoc(readFileSync(DOC_FILE, 'utf8'), text));
  console.log(`gen-config-schema: wrote ${SCHEMA_FILE} and the tables of ${DOC_FILE}`);
}
