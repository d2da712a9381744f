// Moved to core/printable.ts (identity/ needs it for names in error messages); kept for imports.
export { printable } from '../core/printable.js';
