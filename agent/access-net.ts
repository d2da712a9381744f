// The address a companion client's login link names: the configured api.companionHost, or, when
// that is a wildcard (0.0.0.0, ::), this machine's first non-internal IPv4 address (pure: tested).
import type { NetInterface } from '../cluster/cluster-service.js';

export function companionLinkHost(companionHost: string, interfaces: readonly NetInterface[]): string {
  const wildcard = companionHost === '0.0.0.0' || companionHost === '::';
  const host = wildcard ? (interfaces.find((i) => !i.internal && i.family === 'IPv4')?.address ?? '127.0.0.1') : companionHost;
  return host.includes(':') ? `[${host}]` : host;
}
