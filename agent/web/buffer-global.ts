// The core code uses Node's global Buffer in places; in the page it comes from the bundled
// node:buffer polyfill. Imported first by revoke.ts.
import { Buffer } from 'node:buffer';

(globalThis as { Buffer?: unknown }).Buffer ??= Buffer;
export {};
