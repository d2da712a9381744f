// The transport conformance suite under Bun: node_modules/.bin/bun test/bun/transport.ts
import { natCases, transportCases } from '../conformance/transport-cases.js';
import { runCases } from './harness.js';

const failed = await runCases('transport', [...transportCases(), ...natCases()]);
console.log(`# bun transport: ${failed === 0 ? 'all passed' : `${failed} failed`}`);
process.exit(failed > 0 ? 1 : 0);
