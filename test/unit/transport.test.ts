// Runs the transport conformance suite (test/conformance/transport-cases.ts) under tap.
import t from 'tap';
import { transportCases } from '../conformance/transport-cases.js';

for (const c of transportCases()) t.test(c.name, async (tt) => c.fn(tt as never));
import { natCases } from '../conformance/transport-cases.js';
for (const c of natCases()) t.test(c.name, async (tt) => c.fn(tt as never));
