/**
 * `blockrig start` (what `npm start` runs): the embedded rig. Brings up file-backed member devices in a
 * working folder, the metadata regions, two clusters, two servers with the dashboard, one agent per
 * server at each cluster, the controllers and the raid5 and raid1 volumes exported over NBD, prints the
 * URLs, NBD URIs and a login, and runs until Ctrl-C or SIGTERM, when it stops everything it started.
 * `--demo` also plays a short scenario to watch in the dashboard.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { formatSize, parseSize } from '../../units.js';
import { playDemo } from '../../rig/demo.js';
import { EmbeddedRig, type RigReady } from '../../rig/embedded-rig.js';
import { action, parseArgs, type CommandModule } from '../command.js';
import { untilSignal } from './server.js';

const StartOptions = z.object({
  dir: z.string().min(1),
  size: z.string(),
  demo: z.boolean().optional(),
  json: z.boolean().optional(),
});

function printReady(ready: RigReady): void {
  const w = (line = ''): boolean => process.stdout.write(`${line}\n`);
  w();
  w('blockrig is running.');
  w();
  w('Dashboard (either server; each shows every cluster, and follows the other if its own dies):');
  for (const d of ready.dashboards) w(`  server ${d.server} (on cluster ${d.cluster}): ${d.url}/`);
  w(`Login: user ${ready.user}, password ${ready.password}   (also in ${ready.passwordFile})`);
  w();
  if (ready.exports.length > 0) {
    w('NBD exports (try: nbdinfo URI):');
    for (const e of ready.exports) w(`  ${e.volume} (${e.level}, ${formatSize(e.size)}, cluster ${e.cluster}): ${e.uri}`);
    w();
  }
  w('CLI (another terminal):');
  w(`  export BLOCKRIG_SERVER=${ready.dashboards.map((d) => d.url).join(',')}`);
  w(`  export BLOCKRIG_PASSWORD=$(cat ${ready.passwordFile})`);
  w('  npx blockrig status');
  w('  npx blockrig volumes');
  w('  npx blockrig task submit volume-scrub --cluster c1 --volume v5 --wait');
  w();
  w(`Working folder: ${ready.configPath.replace(/\/rig\.yaml$/, '')} (logs of every process are there). Ctrl-C stops everything.`);
  w('ready');
}

export const startCommand: CommandModule = (program) => {
  program
    .command('start')
    .description('the main job: an embedded rig (devices, metadata regions, two clusters, two servers with the dashboard, agents, controllers, volumes over NBD) until Ctrl-C')
    .option('--dir <path>', 'working folder (recreated on each start)', '.blockrig/rig')
    .option('--size <size>', 'size of each member device image', '64MiB')
    .option('--demo', 'also play a short scenario through the servers: a raid5 member fails, a volume-rebuild task rebuilds the spare, a volume scrub runs, a device goes missing and returns')
    .option('--json', 'print one JSON line {"event":"ready",...} instead of the text (the login password is included: it is the only way to log in)')
    .addHelpText('after', '\nExamples:\n  npm start\n  npm start -- --demo\n  blockrig start --dir /tmp/rig --size 256MiB --json\n\nPrints "ready" when everything answers; Ctrl-C (or SIGTERM) stops every process it started.')
    .action(
      action(async (opts: Record<string, unknown>) => {
        const o = parseArgs(StartOptions, opts);
        const member = parseSize(o.size, '--size');
        const rig = new EmbeddedRig({
          dir: resolve(o.dir),
          cliPath: resolve(process.argv[1] ?? 'dist/cli.js'),
          // The region of the default geometry needs just over 16 MiB; tasks' data set is the rest of the device.
          sizes: { member, meta: 48 << 20 },
          log: (line) => void process.stderr.write(`[start] ${line}\n`),
        });
        const signal = untilSignal();
        let stopped = false;
        void signal.then(() => (stopped = true));
        try {
          const starting = rig.start();
          // Ctrl-C during start-up: stop() below ends what started, and the start-up then fails quietly.
          starting.catch(() => undefined);
          const ready = await Promise.race([starting, signal.then(() => null)]);
          if (ready !== null) {
            if (o.json === true) process.stdout.write(`${JSON.stringify({ event: 'ready', ...ready })}\n`);
            else printReady(ready);
            if (o.demo === true && !stopped) {
              const abort = new AbortController();
              void signal.then(() => abort.abort());
              // With --json, stdout carries only JSON lines; the scenario's narration goes to stderr.
              const narrate = (line: string): void => void (o.json === true ? process.stderr : process.stdout).write(`[demo] ${line}\n`);
              await playDemo(rig, ready, narrate, abort.signal).catch((err: unknown) => {
                if (!abort.signal.aborted) narrate(`stopped: ${err instanceof Error ? err.message : String(err)}`);
              });
              if (!stopped) narrate('done; the rig keeps running until Ctrl-C');
            }
            await signal;
          }
        } finally {
          process.stderr.write('[start] stopping every process the rig started...\n');
          await rig.stop();
          process.stderr.write('[start] stopped\n');
        }
        if (o.json === true) process.stdout.write(`${JSON.stringify({ event: 'stopped' })}\n`);
      }),
    );
};
