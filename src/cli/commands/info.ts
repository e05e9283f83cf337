import type { CommandModule } from 'yargs';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { native, nativeAddonPath, packageRoot } from '../../native/binding.js';

interface InfoArgs {
  json: boolean;
}

export interface InfoReport {
  astrospec: string;
  node: string;
  platform: string;
  cpu: string;
  native: { loaded: boolean; path?: string; isa?: string; detectedIsa?: string; supportedIsas?: string[]; threads?: number; error?: string };
  backends: Record<string, { available: boolean; version?: string; error?: string }>;
}

/**
 * A dependency's package.json, looked up as Node resolves packages: in node_modules beside the
 * package and in every folder above, since an installed astrospec's dependencies are hoisted.
 */
function dependencyManifest(name: string): string {
  for (let dir = packageRoot; ; dir = dirname(dir)) {
    const manifest = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(manifest)) return manifest;
    if (dirname(dir) === dir) throw new Error(`Cannot find package '${name}'`);
  }
}

async function probe(name: string): Promise<{ available: boolean; version?: string; error?: string }> {
  try {
    const pkg = JSON.parse(readFileSync(dependencyManifest(name), 'utf8')) as { version: string };
    await import(name);
    return { available: true, version: pkg.version };
  } catch (error) {
    return { available: false, error: ((error as Error).message ?? String(error)).split('\n')[0] };
  }
}

export async function infoHandler(args: InfoArgs): Promise<InfoReport> {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  const { cpus } = await import('node:os');
  const report: InfoReport = {
    astrospec: pkg.version,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    native: { loaded: false },
    backends: {},
  };
  try {
    const info = native().info();
    report.native = { loaded: true, path: nativeAddonPath(), isa: info.isa, detectedIsa: info.detectedIsa, supportedIsas: info.supportedIsas, threads: info.threads };
  } catch (error) {
    report.native = { loaded: false, error: (error as Error).message };
  }
  for (const name of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', 'onnxruntime-node', 'apache-arrow']) {
    report.backends[name] = await probe(name);
  }
  if (args.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const lines = [
      `astrospec ${report.astrospec}  (node ${report.node}, ${report.platform})`,
      `cpu:      ${report.cpu}`,
      report.native.loaded
        ? `native:   isa ${report.native.isa} (cpu supports ${report.native.supportedIsas?.join(', ')}), ${report.native.threads} threads, ${report.native.path ? relative(packageRoot, report.native.path) : 'loaded'}`
        : `native:   NOT LOADED — ${report.native.error}`,
      'backends:',
      ...Object.entries(report.backends).map(([name, b]) =>
        `  ${name.padEnd(30)} ${b.available ? `yes ${b.version}` : `no  (${b.error})`}`,
      ),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return report;
}

export const infoCommand: CommandModule<object, InfoArgs> = {
  command: 'info',
  describe: 'Print versions, the native instruction set, threads and which backends load',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'Print JSON' }),
  handler: async (args) => {
    await infoHandler(args);
  },
};
