// `dobbyd doctor`: prints what the host lacks (exit 1 if anything fatal), else "host ok".
import { parseArgs } from 'node:util';
import { checkHost, formatProblems, hasFatal } from './check.ts';

const USAGE = 'usage: dobbyd doctor [--runtime crun|runc|PATH] [--dbus-address ADDR] [--private-bus] [--json]';

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        runtime: { type: 'string' },
        'dbus-address': { type: 'string' },
        'private-bus': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`dobbyd doctor: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const problems = await checkHost({
    runtime: values.runtime,
    dbusAddress: values['dbus-address'],
    privateBus: values['private-bus'],
  });
  const fatal = hasFatal(problems);
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify({ ok: !fatal, problems }, null, 2)}\n`);
  } else {
    process.stdout.write(`${formatProblems(problems)}\n`);
  }
  return fatal ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
