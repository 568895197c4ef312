/**
 * Thread: main. The feed server's transport: the native uWebSockets.js build for this Node, chosen by its ABI
 * (`process.versions.modules`) and loaded on first use (FeedServer.start, the bench's echo server), never by
 * `import 'unwind'`: a process that only embeds the engine loads no native binary and prints no transport warning.
 *
 * uWebSockets.js publishes no registry package of its own; two maintained builds of it are optional dependencies,
 * each pinned, each with binaries for linux x64/arm64, darwin x64/arm64 and win32 x64 (README "Node versions and
 * module formats"):
 *
 *   ABI   Node   package (name in node_modules)                                 its Linux binaries need
 *   115   20     uWebSockets.js = @trufflesuite/uws-js-unofficial 20.30.0        glibc 2.27+
 *   127   22     @btc-vision/uwebsockets.js 20.57.0                              glibc 2.38+
 *   137   24     @btc-vision/uwebsockets.js 20.57.0                              glibc 2.38+
 *   141   25     @btc-vision/uwebsockets.js 20.57.0                              glibc 2.38+
 *
 * Both builds fail quietly in their own way when the binary does not load: the first falls back to a slow JavaScript
 * server (with a console warning), the second throws. Either way the server refuses to start with TRANSPORT_UNAVAILABLE
 * and a message naming the build, the platform and the reason: a feed that silently runs at a fraction of its speed
 * is worse than one that says it cannot run.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type uWS from 'uWebSockets.js';
import { ErrorCode, UnwindError } from '../errors.js';

/** The uWebSockets.js module: App, the socket helpers and constants (the types are those of the Node 20 build). */
export type Transport = typeof uWS;

/** A native build of uWebSockets.js and the Node ABIs it has binaries for. */
export interface TransportBuild {
  /** The name it is installed under (an optional dependency of unwind). */
  readonly packageName: string;
  /** The package published on the registry, with its pinned version. */
  readonly published: string;
  /** `process.versions.modules` values it ships binaries for (and that unwind's `engines` allows). */
  readonly abis: readonly string[];
  /** Where its `uws_<platform>_<arch>_<abi>.node` files lie, relative to its main file. */
  readonly binaryDir: string;
  /** The newest glibc symbol version its Linux binaries link against. */
  readonly linuxGlibc: string;
}

export const TRANSPORT_BUILDS: readonly TransportBuild[] = [
  {
    packageName: 'uWebSockets.js',
    published: '@trufflesuite/uws-js-unofficial@20.30.0-unofficial.0',
    abis: ['115'],
    binaryDir: '../binaries',
    linuxGlibc: '2.27',
  },
  {
    packageName: '@btc-vision/uwebsockets.js',
    published: '@btc-vision/uwebsockets.js@20.57.0',
    abis: ['127', '137', '141'],
    binaryDir: '.',
    linuxGlibc: '2.38',
  },
];

/** The build that serves Node ABI `abi`, if any. */
export function transportBuild(abi: string = process.versions.modules): TransportBuild | undefined {
  return TRANSPORT_BUILDS.find((b) => b.abis.includes(abi));
}

let loaded: Transport | undefined;

/**
 * The native uWebSockets.js for this process, loaded on the first call. Throws TRANSPORT_UNAVAILABLE when no build
 * serves this Node ABI or platform, when the build is not installed, when its binary does not load (e.g. an older
 * glibc), or when it loaded its JavaScript fallback instead of the binary.
 */
export function loadTransport(): Transport {
  if (loaded !== undefined) return loaded;
  const node = `Node ${process.version} (ABI ${process.versions.modules}) on ${process.platform}-${process.arch}`;
  const build = transportBuild();
  if (build === undefined) {
    const supported = TRANSPORT_BUILDS.flatMap((b) => b.abis).join(', ');
    throw unavailable(`no native uWebSockets.js build for ${node}; builds exist for Node ABIs ${supported} (Node 20, 22, 24, 25)`);
  }
  const require = createRequire(import.meta.url);
  let main: string;
  try {
    main = require.resolve(build.packageName);
  } catch {
    throw unavailable(`${build.published} (optional dependency "${build.packageName}") is not installed; it serves ${node}: npm install --include=optional`);
  }
  const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  if (!existsSync(join(dirname(main), build.binaryDir, binary))) {
    throw unavailable(`${build.published} has no native binary for ${node} (${binary})`);
  }
  let module: Transport;
  try {
    module = require(build.packageName) as Transport;
  } catch (e) {
    throw unavailable(`${build.published} could not load its native binary for ${node}${glibcHint(build)}: ${firstLine(e)}`);
  }
  // A build that falls back to its JavaScript implementation still loads; only the native App is native code.
  if (!String(module.App).includes('[native code]')) {
    throw unavailable(`${build.published} loaded its JavaScript fallback, not the native binary, for ${node}${glibcHint(build)}; refusing to serve`);
  }
  loaded = module;
  return module;
}

function unavailable(message: string): UnwindError {
  return new UnwindError(ErrorCode.TransportUnavailable, message);
}

/** On glibc Linux older than the build needs: says so (the loader's own message names only the missing symbol version). */
function glibcHint(build: TransportBuild): string {
  if (process.platform !== 'linux') return '';
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  const runtime = header?.glibcVersionRuntime;
  if (runtime === undefined) return ' (this Linux has no glibc: the builds are for glibc only)';
  return versionBelow(runtime, build.linuxGlibc) ? ` (its binaries need glibc ${build.linuxGlibc} or later, this system has ${runtime})` : '';
}

function versionBelow(a: string, b: string): boolean {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number));
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d < 0;
  }
  return false;
}

function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n').find((l) => l.trim() !== '' && !l.startsWith('This version of uWS.js')) ?? text;
}
