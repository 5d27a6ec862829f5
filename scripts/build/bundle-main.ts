// The checkout's bundle of one entry point (scripts/bundle.sh decides when it is stale).
// Usage: node scripts/build/bundle-main.ts ENTRY OUTFILE
import { bundle, devOciValidator } from './bundle.ts';

const [entry, outfile] = process.argv.slice(2);
if (entry === undefined || outfile === undefined) {
  process.stderr.write('usage: node scripts/build/bundle-main.ts ENTRY OUTFILE\n');
  process.exit(2);
}
await bundle({ entry, outfile, ociValidator: devOciValidator() });
